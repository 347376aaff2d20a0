import { join } from 'node:path'
import { loadConfig } from '../../core/config.ts'
import { writeMosquittoFiles } from '../../core/registry/mosquitto.ts'
import { openRegistryStore } from '../../core/registry/open.ts'
import { ensureServiceCredentials, type ServiceCredentials } from '../../core/registry/service-credentials.ts'
import type { ServiceRole } from '../../core/registry/store.ts'
import { deviceIdFor } from '../../firmware-sim/model.ts'
import type { DeviceLogin } from './load/messages.ts'

/** The benchmark's throwaway fleet: one registry for every stack, the same logins everywhere. */
export interface Fleet {
  /** SENSHAGEN_DEVICE_REGISTRY and SENSHAGEN_SERVICE_CREDENTIALS of the throwaway registry. */
  registryEnv: Record<string, string>
  devices: DeviceLogin[]
  service: Record<ServiceRole, ServiceCredentials>
  /** Mosquitto password and ACL files generated from the same registry (core/registry/mosquitto.ts). */
  mosquitto: { passwordFile: string; aclFile: string }
}

/**
 * Registers `count` native devices (`bench-000` …, neighbourhood stadshagen, consent given) in a new SQLite
 * registry in `dir`, issues the service accounts' secrets and writes the Mosquitto files from the registry, so
 * that the SensHagen stacks and the Mosquitto-based ones check the same logins and topic rights. Each device
 * costs one scrypt and one PBKDF2 hash (~0.1 s).
 */
export async function prepareFleet(dir: string, count: number, progress: (done: number) => void): Promise<Fleet> {
  const registryEnv = {
    SENSHAGEN_DEVICE_REGISTRY: join(dir, 'registry.sqlite'),
    SENSHAGEN_SERVICE_CREDENTIALS: join(dir, 'service-accounts.json'),
  }
  const registry = await openRegistryStore(loadConfig(registryEnv).registry)
  try {
    const devices: DeviceLogin[] = []
    for (let i = 0; i < count; i++) {
      const issued = await registry.addDevice({ id: deviceIdFor(i, 'bench-'), neighbourhood: 'stadshagen', consent: true })
      devices.push({ id: issued.username, secret: issued.secret })
      if ((i + 1) % 25 === 0) progress(i + 1)
    }
    const service = await ensureServiceCredentials(registry, registryEnv.SENSHAGEN_SERVICE_CREDENTIALS)
    const files = await writeMosquittoFiles(registry, join(dir, 'mosquitto'))
    return { registryEnv, devices, service, mosquitto: { passwordFile: files.passwordFile, aclFile: files.aclFile } }
  } finally {
    await registry.close()
  }
}
