import type { Logger } from '../../core/logger.ts'
import { publicRegistry, type DeviceRegistry, type PublicDevice, type PublicNeighbourhood } from '../../core/registry/registry.ts'
import type { RegistryStore } from '../../core/registry/store.ts'

/** How often the API re-reads the registry by default: a revoked or newly consented device shows within this. */
export const REGISTRY_REFRESH_MS = 30_000

/** The public registry the API serves, kept current; `stop` ends the refreshing (the store stays open). */
export interface RefreshingRegistry extends DeviceRegistry {
  /** Re-reads the store now. Errors: the store's (the previous snapshot stays in use). */
  refresh(): Promise<void>
  stop(): void
}

/**
 * A DeviceRegistry over the registry store: a snapshot (`publicRegistry(store)`: consented, active devices,
 * coarsened positions only) taken now and again every `refreshMs`, so a device revoked, added or newly consented
 * is public (or not) within `refreshMs` without a restart. A failed refresh keeps the previous snapshot and logs
 * a warning with the error; the next one tries again. Errors: the first snapshot's (the API cannot start without).
 */
export async function refreshingRegistry(store: RegistryStore, options: { refreshMs?: number; logger: Logger }): Promise<RefreshingRegistry> {
  const refreshMs = options.refreshMs ?? REGISTRY_REFRESH_MS
  let current = await publicRegistry(store)
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const refresh = async () => {
    current = await publicRegistry(store)
  }
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      refresh().then(
        () => schedule(),
        (error: unknown) => {
          options.logger.warn({ err: error, registry: store.source, refreshMs }, 'device registry refresh failed; serving the previous snapshot')
          schedule()
        },
      )
    }, refreshMs)
    timer.unref()
  }
  schedule()
  return {
    get source() {
      return current.source
    },
    neighbourhoods: (): readonly PublicNeighbourhood[] => current.neighbourhoods(),
    neighbourhood: (id: string): PublicNeighbourhood | undefined => current.neighbourhood(id),
    publicDevices: (neighbourhood?: string): readonly PublicDevice[] => current.publicDevices(neighbourhood),
    publicDevice: (id: string): PublicDevice | undefined => current.publicDevice(id),
    refresh,
    stop() {
      stopped = true
      clearTimeout(timer)
    },
  }
}
