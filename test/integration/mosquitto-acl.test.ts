import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readingsTopic, statusTopic } from '../../core/topics.ts'
import { uniqueId, waitFor } from '../helpers/env.ts'
import { freePort } from '../helpers/processes.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

/**
 * The Mosquitto files of `senshagen devices mosquitto-config` (core/registry/mosquitto.ts) in a real Mosquitto
 * 2.0 (/usr/sbin/mosquitto) of this test's own, on a free port with its own folder: the same attacks as against
 * our broker (README "Security") fail, and legitimate traffic in the same test still flows.
 */
const REPO = fileURLToPath(new URL('../..', import.meta.url))
const MOSQUITTO = '/usr/sbin/mosquitto'
const run = promisify(execFile)

/** The error mqtt.js rejects a refused CONNECT with: CONNACK return code 5 "not authorized" [MQTT-3.2.2-3]. */
const NOT_AUTHORIZED = { code: 5, message: 'Connection refused: Not authorized' }

describe('Mosquitto with the generated password file and ACL', () => {
  let registry: TestRegistry
  let dir: string
  let mosquitto: ChildProcess
  let mosquittoLog = ''
  let url = ''
  let cli: { stdout: string; stderr: string }
  const clients: MqttClient[] = []

  const connectAs = async (username: string | undefined, password: string | undefined, options: IClientOptions = {}) => {
    const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, username, password, ...options })
    clients.push(client)
    return client
  }
  const device = (id: string, options?: IClientOptions) => connectAs(id, registry.secrets.get(id), options)
  const service = (role: 'ingest' | 'importer' | 'operator', options?: IClientOptions) => connectAs(registry.service[role].username, registry.service[role].password, options)
  /** Subscribes and collects `topic payload` strings. */
  const listen = async (client: MqttClient, filters: string[]) => {
    const got: string[] = []
    client.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`))
    const granted = await client.subscribeAsync(filters, { qos: 1 })
    return { got, granted }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'senshagen-mosquitto-'))
    registry = await testRegistry([
      { id: 'garden-1', neighbourhood: 'stadshagen', consent: true },
      { id: 'garden-2', neighbourhood: 'stadshagen', consent: false },
      { id: 'tasmota-shed', neighbourhood: 'stadshagen', consent: true },
      { id: 'ttn:app:dev', neighbourhood: 'stadshagen', consent: true },
      { id: 'garden-gone', neighbourhood: 'stadshagen', consent: true },
    ])
    await registry.store.revoke('garden-gone')
    cli = await run(process.execPath, ['bin/senshagen.js', 'devices', 'mosquitto-config', '--out', join(dir, 'mosquitto')], {
      cwd: REPO,
      env: { ...process.env, ...registry.env, SENSHAGEN_LOG_LEVEL: 'warn' },
    })
    const port = await freePort()
    url = `mqtt://127.0.0.1:${port}`
    const example = await readFile(join(dir, 'mosquitto', 'mosquitto.conf.example'), 'utf8')
    const conf = example
      .replace(/^listener 1883$/m, `listener ${port} 127.0.0.1`)
      .replace(/^persistence_location .*$/m, `persistence_location ${dir}/`)
    expect(conf).not.toBe(example)
    // Started as root, Mosquitto drops to user "mosquitto" before reading the files (0600 root: unreadable);
    // an operator chowns them (the example configuration says so); this test keeps its own process as root. $SYS every second,
    // so that the tests below would see it if anyone could read it.
    const extra = `${process.getuid?.() === 0 ? 'user root\n' : ''}sys_interval 1\nlog_dest stderr\n`
    await writeFile(join(dir, 'test.conf'), `${conf}\n${extra}`)
    mosquitto = spawn(MOSQUITTO, ['-c', join(dir, 'test.conf')], { stdio: ['ignore', 'ignore', 'pipe'] })
    mosquitto.stderr!.on('data', (chunk: Buffer) => (mosquittoLog += chunk.toString('utf8')))
    await waitFor(`mosquitto on :${port} (log: ${mosquittoLog})`, () => portOpen(port), 10_000, 100)
  })

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})))
    if (mosquitto && mosquitto.exitCode === null) {
      const exited = new Promise((resolve) => mosquitto.once('exit', resolve))
      mosquitto.kill('SIGTERM')
      await exited
    }
    await registry?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('writes the password file (0600), the ACL from the topic rights, and skips the TTN id with a warning', async () => {
    expect(cli.stdout).toBe('')
    const out = join(dir, 'mosquitto')
    expect(cli.stderr).toBe(
      "warning: ttn:app:dev left out of the Mosquitto files: its username contains ':', which separates username and hash in a Mosquitto password file; it can only use our broker\n" +
        `${out}/passwd: 6 account(s) (3 device(s), 3 service account(s)), mode 0600\n` +
        `${out}/acl: topic rights of those accounts (service secrets for this machine's clients: ${registry.serviceCredentialsFile})\n` +
        `${out}/mosquitto.conf.example: example configuration using them; Mosquitto reads passwd and acl as its own user (chown mosquitto: passwd acl)\n`,
    )
    expect((await stat(join(out, 'passwd'))).mode & 0o777).toBe(0o600)
    const passwd = (await readFile(join(out, 'passwd'), 'utf8')).trimEnd().split('\n')
    expect(passwd.map((line) => line.slice(0, line.indexOf(':')))).toEqual(['garden-1', 'garden-2', 'tasmota-shed', '_importer', '_ingest', '_operator'])
    for (const line of passwd) expect(line).toMatch(/^[a-z_-][a-z0-9-]*:\$7\$20000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/)
    // no secret in clear anywhere
    for (const secret of registry.secrets.values()) expect(passwd.join('\n')).not.toContain(secret)
    const acl = await readFile(join(out, 'acl'), 'utf8')
    expect(acl.split('\n').slice(0, 4).join('\n')).toMatch(/^# Mosquitto ACL generated by 'senshagen devices mosquitto-config' from the device registry .*registry\.sqlite at \d{4}-\d\d-\d\dT/)
    expect(acl.split('\n').slice(5).join('\n')).toBe(
      [
        '# device garden-1 (native, native id garden-1)',
        'user garden-1',
        'topic write senshagen/v1/devices/garden-1/readings',
        'topic write senshagen/v1/devices/garden-1/status',
        '',
        '# device garden-2 (native, native id garden-2)',
        'user garden-2',
        'topic write senshagen/v1/devices/garden-2/readings',
        'topic write senshagen/v1/devices/garden-2/status',
        '',
        '# device tasmota-shed (tasmota, native id shed)',
        'user tasmota-shed',
        'topic write senshagen/v1/devices/tasmota-shed/readings',
        'topic write senshagen/v1/devices/tasmota-shed/status',
        'topic write tele/shed/+',
        'topic write stat/shed/+',
        'topic read cmnd/shed/#',
        'topic read cmnd/tasmotas/#',
        '',
        '# service account ingest',
        'user _ingest',
        'topic read #',
        '',
        '# service account importer: publishes only for the registered, active devices listed',
        'user _importer',
        'topic write senshagen/v1/devices/garden-1/readings',
        'topic write senshagen/v1/devices/garden-1/status',
        'topic write senshagen/v1/devices/garden-2/readings',
        'topic write senshagen/v1/devices/garden-2/status',
        'topic write senshagen/v1/devices/tasmota-shed/readings',
        'topic write senshagen/v1/devices/tasmota-shed/status',
        'topic write senshagen/v1/devices/ttn:app:dev/readings',
        'topic write senshagen/v1/devices/ttn:app:dev/status',
        '',
        '# service account operator',
        'user _operator',
        'topic read #',
        '',
      ].join('\n'),
    )
    expect(acl.split('\n').filter((line) => !line.startsWith('#') && line.includes('$'))).toEqual([]) // no rule for $SYS (or any $ topic)
    expect(acl).not.toContain('garden-gone')
  })

  it('refuses anonymous clients, wrong passwords, revoked devices and the TTN id; a registered device gets in', async () => {
    await expect(connectAs(undefined, undefined)).rejects.toMatchObject(NOT_AUTHORIZED)
    await expect(connectAs('garden-1', 'wrong-password')).rejects.toMatchObject(NOT_AUTHORIZED)
    await expect(connectAs('garden-1', registry.secrets.get('garden-2'))).rejects.toMatchObject(NOT_AUTHORIZED)
    await expect(connectAs('garden-gone', registry.secrets.get('garden-gone'))).rejects.toMatchObject(NOT_AUTHORIZED)
    await expect(connectAs('ttn:app:dev', registry.secrets.get('ttn:app:dev'))).rejects.toMatchObject(NOT_AUTHORIZED)
    const client = await device('garden-1')
    expect(client.connected).toBe(true)
  })

  it("delivers a device's own readings to the operator, and not a publish into another device's topic", async () => {
    const marker = uniqueId('m')
    const operator = await service('operator')
    const { got } = await listen(operator, ['#'])
    const garden1 = await device('garden-1')
    const shed = await device('tasmota-shed')
    // Mosquitto acknowledges a denied QoS 1 publish (PUBACK) and drops it
    await garden1.publishAsync(readingsTopic('garden-2'), `forged ${marker}`, { qos: 1 })
    await garden1.publishAsync('tele/shed/SENSOR', `forged ${marker}`, { qos: 1 })
    await shed.publishAsync('tele/other/SENSOR', `forged ${marker}`, { qos: 1 })
    await shed.publishAsync('tele/shed/SENSOR', `own ${marker}`, { qos: 1 })
    await garden1.publishAsync(readingsTopic('garden-1'), `own ${marker}`, { qos: 1 })
    await waitFor('garden-1 reading at the operator', () => got.includes(`${readingsTopic('garden-1')} own ${marker}`), 5_000, 50)
    expect(got).toEqual([`tele/shed/SENSOR own ${marker}`, `${readingsTopic('garden-1')} own ${marker}`])
  })

  it('gives a device that subscribes to # nothing of the others, and nobody $SYS', async () => {
    const marker = uniqueId('m')
    const garden2 = await device('garden-2')
    const spy = await listen(garden2, ['#', '$SYS/#'])
    const operator = await service('operator')
    const watch = await listen(operator, ['#', '$SYS/#'])
    const garden1 = await device('garden-1')
    await garden1.publishAsync(readingsTopic('garden-1'), `own ${marker}`, { qos: 1 })
    await garden1.publishAsync(statusTopic('garden-1'), 'online', { qos: 1, retain: true })
    await waitFor('garden-1 status at the operator', () => watch.got.includes(`${statusTopic('garden-1')} online`), 5_000, 50)
    // sys_interval 1: Mosquitto publishes $SYS every second; wait two of them
    await new Promise((resolve) => setTimeout(resolve, 2_100))
    expect(watch.got).toEqual([`${readingsTopic('garden-1')} own ${marker}`, `${statusTopic('garden-1')} online`])
    expect(spy.got).toEqual([])
    // a retained message is not handed to a foreign subscriber later either
    const late = await listen(await device('tasmota-shed'), [statusTopic('garden-1')])
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(late.got).toEqual([])
    await garden1.publishAsync(statusTopic('garden-1'), '', { qos: 1, retain: true }) // clear the retained status
  })

  it('lets the importer publish for registered, active devices only', async () => {
    const marker = uniqueId('m')
    const operator = await service('operator')
    const { got } = await listen(operator, ['#'])
    const importer = await service('importer')
    await importer.publishAsync(readingsTopic('unregistered-9'), `forged ${marker}`, { qos: 1 })
    await importer.publishAsync(readingsTopic('garden-gone'), `forged ${marker}`, { qos: 1 })
    await importer.publishAsync('tele/shed/SENSOR', `forged ${marker}`, { qos: 1 })
    await importer.publishAsync(readingsTopic('ttn:app:dev'), `replayed ${marker}`, { qos: 1 })
    await importer.publishAsync(readingsTopic('garden-2'), `replayed ${marker}`, { qos: 1 })
    await waitFor('garden-2 reading at the operator', () => got.includes(`${readingsTopic('garden-2')} replayed ${marker}`), 5_000, 50)
    expect(got).toEqual([`${readingsTopic('ttn:app:dev')} replayed ${marker}`, `${readingsTopic('garden-2')} replayed ${marker}`])
  })

  it("keeps the ingest's persistent session: a device using its client id gets its own session instead", async () => {
    const marker = uniqueId('m')
    const ingest = await service('ingest', { clientId: 'senshagen-ingest', clean: false })
    const { got } = await listen(ingest, ['senshagen/v1/devices/+/readings'])
    let ingestClosed = false
    ingest.on('close', () => (ingestClosed = true))
    const intruder = await device('garden-2', { clientId: 'senshagen-ingest', clean: false })
    const garden1 = await device('garden-1')
    await garden1.publishAsync(readingsTopic('garden-1'), `own ${marker}`, { qos: 1 })
    await waitFor('the reading at the ingest', () => got.includes(`${readingsTopic('garden-1')} own ${marker}`), 5_000, 50)
    expect(ingestClosed).toBe(false)
    expect(intruder.connected).toBe(true)
  })
})

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
