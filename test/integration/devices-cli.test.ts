import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../core/logger.ts'
import { QUANTITIES } from '../../core/quantities.ts'
import type { Reading } from '../../core/reading.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import { INFLUX_URL, uniqueId } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

/**
 * `senshagen devices …` as an operator runs it (`node bin/senshagen.js`, its own process) against a temporary
 * SQLite registry; `status` against the real InfluxDB.
 */
const REPO = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)
const SECRET = '[A-Za-z0-9_-]{43}'
const ONCE = "the secret is shown only this once (the registry keeps only its hash); hand it to the device's owner now\n"

async function senshagen(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/senshagen.js', ...args], { cwd: REPO, env: { ...process.env, SENSHAGEN_LOG_LEVEL: 'warn', ...env } })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** Every byte of the SQLite registry on disk (main file, WAL, shared memory). */
async function registryBytes(url: string): Promise<string> {
  const folder = dirname(url)
  const files = (await readdir(folder)).filter((f) => f.startsWith('registry.sqlite'))
  return (await Promise.all(files.map((f) => readFile(join(folder, f), 'latin1')))).join('')
}

describe('senshagen devices: the registry from the command line', () => {
  const registries: TestRegistry[] = []
  const fresh = async () => {
    const registry = await testRegistry()
    registries.push(registry)
    return registry
  }
  afterAll(async () => {
    for (const r of registries) await r.close()
  })

  it('add prints id, username, secret and a firmware hint once; the secret authenticates and is not stored', async () => {
    const reg = await fresh()
    // independent ids: both processes run at once (each CLI start costs seconds of tsx start-up)
    const [add, json] = await Promise.all([
      senshagen(['devices', 'add', 'garden-001', '--neighbourhood', 'stadshagen', '--consent', 'yes', '--lat', '52.5312', '--lon', '6.0571', '--sensor', 'SDS011', 'BME280', '--note', 'form 7, blue folder'], reg.env),
      senshagen(['devices', 'add', 'tasmota-shed', '--neighbourhood', 'stadshagen', '--consent', 'no', '--json'], reg.env),
    ])
    expect(add.stderr).toBe(ONCE)
    expect(add.code).toBe(0)
    const text = new RegExp(`^id:       garden-001\nusername: garden-001\nsecret:   (${SECRET})\nfirmware: MQTT port 1883, user garden-001, password <secret>; publish to senshagen/v1/devices/garden-001/readings\n$`)
    expect(add.stdout).toMatch(text)
    const secret = text.exec(add.stdout)![1]!
    expect(await reg.store.authenticate('garden-001', secret)).toMatchObject({ kind: 'device', username: 'garden-001', device: { id: 'garden-001' } })
    expect(await reg.store.authenticate('garden-001', secret.slice(1) + 'x')).toBeUndefined()
    expect(await reg.store.device('garden-001')).toMatchObject({
      format: 'native', nativeId: 'garden-001', neighbourhood: 'stadshagen', location: { lat: 52.5312, lon: 6.0571 }, coarsen: 'grid',
      consent: true, sensorModels: ['SDS011', 'BME280'], note: 'form 7, blue folder',
    })
    expect(await registryBytes(reg.url)).not.toContain(secret)

    expect(json.code).toBe(0)
    expect(json.stdout).toMatch(new RegExp(`^\\{"id":"tasmota-shed","username":"tasmota-shed","secret":"${SECRET}"\\}\n$`))
    const issued = JSON.parse(json.stdout) as { secret: string }
    expect(Object.keys(issued)).toEqual(['id', 'username', 'secret'])
    expect(await reg.store.authenticate('tasmota-shed', issued.secret)).toMatchObject({ kind: 'device', device: { format: 'tasmota', nativeId: 'shed', consent: false } })
    expect(await registryBytes(reg.url)).not.toContain(issued.secret)
  })

  it('works on a fresh clone: the registry file is created and already knows the neighbourhoods', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'senshagen-fresh-'))
    try {
      const url = join(dir, 'data', 'registry.sqlite') // the folder does not exist yet
      const env = { SENSHAGEN_DEVICE_REGISTRY: url, SENSHAGEN_SERVICE_CREDENTIALS: join(dir, 'data', 'service-accounts.json'), SENSHAGEN_NEIGHBOURHOODS: 'config/neighbourhoods.json' }
      const add = await senshagen(['devices', 'add', 'garden-001', '--neighbourhood', 'stadshagen', '--consent', 'yes', '--json'], env)
      expect(add.stderr).toBe(ONCE)
      expect(add.code).toBe(0)
      expect((await stat(url)).mode & 0o777).toBe(0o600)
      const list = await senshagen(['devices', 'list', '--format', 'json'], env)
      expect((JSON.parse(list.stdout) as Array<{ id: string; neighbourhood: string }>).map((d) => [d.id, d.neighbourhood])).toEqual([['garden-001', 'stadshagen']])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses a duplicate or an unknown neighbourhood (exit 1) and bad options (exit 2), naming the option and rule', async () => {
    const reg = await fresh()
    await reg.store.addDevice({ id: 'garden-001', neighbourhood: 'stadshagen', consent: true })
    const add = (...args: string[]) => senshagen(['devices', 'add', ...args], reg.env)
    const results = await Promise.all([
      add('garden-001', '--neighbourhood', 'stadshagen', '--consent', 'yes'),
      add('garden-002', '--neighbourhood', 'nowhere', '--consent', 'yes'),
      add('garden-002', '--neighbourhood', 'stadshagen', '--consent', 'maybe'),
      add('garden-002', '--neighbourhood', 'stadshagen'),
      add('garden-002', '--neighbourhood', 'stadshagen', '--consent', 'yes', '--lat', '52.5'),
      add('garden-002', '--neighbourhood', 'stadshagen', '--consent', 'yes', '--format', 'lorawan'),
      add('garden-002', '--neighbourhood', 'stadshagen', '--consent', 'yes', '--coarsen', 'grid'),
      add('--neighbourhood', 'stadshagen', '--consent', 'yes', '--', 'garden 2'),
    ])
    const badId = results.pop()!
    expect(results.map((r) => [r.code, r.stdout, r.stderr.split('\n')[0]])).toEqual([
      [1, '', "senshagen: device 'garden-001' already exists (ids are never reused, also after revoke)"],
      [1, '', `senshagen: --neighbourhood: no neighbourhood 'nowhere' in the registry (known: archief, stadshagen; add it to ${reg.neighbourhoodsFile})`],
      [2, '', "senshagen: --consent: must be yes or no, got 'maybe'"],
      [2, '', "error: required option '--consent <yes|no>' not specified"],
      [2, '', 'senshagen: --lon: needed with --lat (give both or neither)'],
      [2, '', "senshagen: --format: must be one of native, tasmota, esphome, ttn, meetjestad, airrohr, opensensemap, wow, wu, ecowitt, sensor.community, got 'lorawan'"],
      [1, '', "senshagen: invalid device 'garden-002': coarsen: 'grid' needs a location (without one the device is published at its neighbourhood's centre: coarsen 'neighbourhood')"],
    ])
    expect((await reg.store.devices()).map((d) => d.id)).toEqual(['garden-001'])
    expect([badId.code, badId.stderr]).toEqual([2, "senshagen: <id>: 'garden 2': device id must be 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric\n"])
  })

  it('import registers config/devices.json once: a second import registers nothing and prints no secret', async () => {
    const reg = await fresh()
    const demo = JSON.parse(await readFile(join(REPO, 'config/devices.json'), 'utf8')) as { devices: Array<{ id: string }> }
    const ids = demo.devices.map((d) => d.id)
    expect(ids).toHaveLength(20)
    const first = await senshagen(['devices', 'import', 'config/devices.json', '--json'], reg.env)
    expect(first.stderr).toBe('neighbourhoods added or updated: stadshagen, archief\nthe new secrets are shown only this once (the registry keeps only their hashes)\n20 registered, 0 already registered\n')
    expect(first.code).toBe(0)
    const lines = first.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(20)
    for (const [i, line] of lines.entries()) expect(line).toMatch(new RegExp(`^\\{"id":"${ids[i]}","username":"${ids[i]}","secret":"${SECRET}"\\}$`))
    const secrets = new Map(lines.map((line) => JSON.parse(line) as { id: string; secret: string }).map((c) => [c.id, c.secret]))
    expect((await reg.store.devices()).map((d) => d.id).sort()).toEqual([...ids].sort())
    expect(await reg.store.device('sim-009')).toMatchObject({ consent: false, neighbourhood: 'stadshagen', location: { lat: 52.5277, lon: 6.0476 } })
    expect(await reg.store.device('sc-5331')).toMatchObject({ format: 'sensor.community', nativeId: '5331', neighbourhood: 'archief' })

    const second = await senshagen(['devices', 'import', 'config/devices.json', '--json'], reg.env)
    expect(second).toEqual({
      code: 0,
      stdout: '',
      stderr: `neighbourhoods added or updated: stadshagen, archief\nalready registered (left as they are, secrets unchanged): ${ids.join(', ')}\n0 registered, 20 already registered\n`,
    })
    for (const id of ['sim-000', 'sc-92']) expect(await reg.store.authenticate(id, secrets.get(id)!)).toMatchObject({ kind: 'device', username: id })

    // CSV: one new device (text output), one already registered; and three files refused as a whole (each its own
    // file, all four imports at once: a refused import registers nothing, checked below)
    const csv = join(dirname(reg.url), 'more.csv')
    const badCsv = join(dirname(reg.url), 'bad.csv')
    const unknownCsv = join(dirname(reg.url), 'unknown.csv')
    const none = join(dirname(reg.url), 'none.csv')
    await writeFile(csv, 'id,neighbourhood,consent,lat,lon,format,native_id,coarsen,sensor_models,note\ntasmota-shed,stadshagen,yes,,,,,neighbourhood,SI7021;BME280,"shed, back garden"\nsim-001,stadshagen,no,,,,,,,\n')
    await writeFile(badCsv, 'id,neighbourhood,consent\ngarden-9,stadshagen,maybe\ngarden-10,elders,yes\n')
    await writeFile(unknownCsv, 'id,neighbourhood,consent\ngarden-9,stadshagen,yes\ngarden-10,elders,yes\n')
    const importing = (file: string) => senshagen(['devices', 'import', file], reg.env)
    const [third, bad, unknown, missing] = await Promise.all([importing(csv), importing(badCsv), importing(unknownCsv), importing(none)])
    expect(third.code).toBe(0)
    expect(third.stdout).toMatch(new RegExp(`^tasmota-shed: username tasmota-shed, secret ${SECRET}\n$`))
    expect(third.stderr).toBe('already registered (left as they are, secrets unchanged): sim-001\nthe new secrets are shown only this once (the registry keeps only their hashes)\n1 registered, 1 already registered\n')
    expect(await reg.store.device('tasmota-shed')).toMatchObject({ format: 'tasmota', nativeId: 'shed', coarsen: 'neighbourhood', sensorModels: ['SI7021', 'BME280'], note: 'shed, back garden' })
    expect((await reg.store.device('sim-001'))?.consent).toBe(true) // left as it was

    expect(bad).toEqual({ code: 1, stdout: '', stderr: `senshagen: cannot import ${badCsv} (1 problem; nothing registered):\n  line 2, column 3 (consent): must be yes, no, true or false, got 'maybe'\n` })
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr: `senshagen: cannot import ${unknownCsv} (1 problem; nothing registered):\n  line 3: invalid device 'garden-10': neighbourhood: no neighbourhood 'elders' in the registry (known: archief, stadshagen)\n`,
    })
    expect(await reg.store.device('garden-9')).toBeUndefined()
    expect((await reg.store.devices()).map((d) => d.id).sort()).toEqual([...ids, 'tasmota-shed'].sort())
    expect([missing.code, missing.stderr]).toEqual([1, `senshagen: cannot read ${none}: ENOENT: no such file or directory, open '${none}'\n`])
  })

  it('list shows no location or hash; show shows every field; revoke and rotate-secret change the credentials', async () => {
    const reg = await fresh()
    const g1 = await reg.store.addDevice({ id: 'garden-001', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 }, sensorModels: ['SDS011'], note: 'form 7' })
    const g2 = await reg.store.addDevice({ id: 'garden-002', neighbourhood: 'stadshagen', consent: false, location: { lat: 52.5288, lon: 6.0633 }, coarsen: 'neighbourhood' })
    await reg.store.addDevice({ id: 'tasmota-shed', neighbourhood: 'archief', consent: true })
    const created = new Map((await reg.store.devices()).map((d) => [d.id, new Date(d.createdAt).toISOString()]))

    const [text, json, show, showJson, unknown] = await Promise.all([
      senshagen(['devices', 'list'], reg.env),
      senshagen(['devices', 'list', '--format', 'json'], reg.env),
      senshagen(['devices', 'show', 'garden-001'], reg.env),
      senshagen(['devices', 'show', 'tasmota-shed', '--format', 'json'], reg.env),
      senshagen(['devices', 'show', 'nope'], reg.env),
    ])
    expect(text.stdout).toBe(
      'ID            FORMAT   NEIGHBOURHOOD  CONSENT  STATUS  CREATED\n' +
        `garden-001    native   stadshagen     yes      active  ${created.get('garden-001')}\n` +
        `garden-002    native   stadshagen     no       active  ${created.get('garden-002')}\n` +
        `tasmota-shed  tasmota  archief        yes      active  ${created.get('tasmota-shed')}\n`,
    )
    expect(text.stderr).toBe('3 device(s): 3 active, 0 revoked\n')
    expect(JSON.parse(json.stdout)).toEqual([
      { id: 'garden-001', format: 'native', neighbourhood: 'stadshagen', consent: true, status: 'active', created: created.get('garden-001') },
      { id: 'garden-002', format: 'native', neighbourhood: 'stadshagen', consent: false, status: 'active', created: created.get('garden-002') },
      { id: 'tasmota-shed', format: 'tasmota', neighbourhood: 'archief', consent: true, status: 'active', created: created.get('tasmota-shed') },
    ])
    for (const out of [text.stdout, json.stdout, show.stdout, showJson.stdout]) expect(out).not.toMatch(/\$7\$|scrypt|52\.5288/)
    expect(text.stdout + json.stdout).not.toContain('52.5312')
    const at = created.get('garden-001')
    expect(show.stdout).toBe(
      [
        'id:            garden-001',
        'username:      garden-001',
        'status:        active',
        'format:        native',
        'native id:     garden-001',
        'publishes on:  senshagen/v1/devices/garden-001/readings senshagen/v1/devices/garden-001/status',
        'subscribes to: -',
        'neighbourhood: stadshagen',
        'location:      52.5312, 6.0571 (exact: personal data, never published)',
        'coarsen:       grid',
        `consent:       yes, since ${at}`,
        'sensor models: SDS011',
        'note:          form 7',
        `created:       ${at}`,
        `updated:       ${at}`,
        '',
      ].join('\n'),
    )
    const shedAt = created.get('tasmota-shed')
    expect(JSON.parse(showJson.stdout)).toEqual({
      id: 'tasmota-shed', username: 'tasmota-shed', status: 'active', format: 'tasmota', nativeId: 'shed', neighbourhood: 'archief', location: null,
      coarsen: 'neighbourhood', consent: true, consentAt: shedAt, sensorModels: [], note: null, createdAt: shedAt, updatedAt: shedAt, revokedAt: null,
      topics: {
        publish: ['senshagen/v1/devices/tasmota-shed/readings', 'senshagen/v1/devices/tasmota-shed/status', 'tele/shed/+', 'stat/shed/+'],
        retain: ['senshagen/v1/devices/tasmota-shed/status', 'tele/shed/+', 'stat/shed/+'],
        subscribe: ['cmnd/shed/#', 'cmnd/tasmotas/#'],
      },
    })
    expect([unknown.code, unknown.stdout, unknown.stderr]).toEqual([1, '', "senshagen: no device 'nope' in the registry\n"])

    // rotate-secret of two devices and revoke of a third, at once (they touch different devices)
    const [rotated, rotatedText, revoked] = await Promise.all([
      senshagen(['devices', 'rotate-secret', 'garden-001', '--json'], reg.env),
      senshagen(['devices', 'rotate-secret', 'tasmota-shed'], reg.env),
      senshagen(['devices', 'revoke', 'garden-002'], reg.env),
    ])
    // rotate-secret: the new secret works, the old one no longer
    expect([rotated.code, rotated.stderr]).toEqual([0, ONCE])
    const fresh1 = JSON.parse(rotated.stdout) as { id: string; username: string; secret: string }
    expect(fresh1).toEqual({ id: 'garden-001', username: 'garden-001', secret: expect.stringMatching(new RegExp(`^${SECRET}$`)) })
    expect(fresh1.secret).not.toBe(g1.secret)
    expect(await reg.store.authenticate('garden-001', g1.secret)).toBeUndefined()
    expect(await reg.store.authenticate('garden-001', fresh1.secret)).toMatchObject({ kind: 'device' })
    expect(rotatedText.stdout).toMatch(new RegExp(`^id:       tasmota-shed\nusername: tasmota-shed\nsecret:   ${SECRET}\nfirmware: Tasmota Configuration > MQTT: port 1883, user tasmota-shed, password <secret>, Topic shed\n$`))

    // revoke: the secret stops working, list says revoked, a second revoke changes nothing
    const revokedAt = (await reg.store.device('garden-002'))!.revokedAt!
    expect(revoked).toEqual({
      code: 0,
      stdout: `garden-002 revoked at ${new Date(revokedAt).toISOString()}\n`,
      stderr: 'its credentials no longer work; a running broker closes its connection at its next registry check (SENSHAGEN_MQTT_REGISTRY_POLL_MS)\n',
    })
    expect(await reg.store.authenticate('garden-002', g2.secret)).toBeUndefined()
    const [again, rotateRevoked, revokeUnknown, listAfter] = await Promise.all([
      senshagen(['devices', 'revoke', 'garden-002'], reg.env),
      senshagen(['devices', 'rotate-secret', 'garden-002'], reg.env),
      senshagen(['devices', 'revoke', 'nope'], reg.env),
      senshagen(['devices', 'list', '--format', 'json'], reg.env),
    ])
    expect(again).toEqual({ code: 0, stdout: '', stderr: `device 'garden-002' was already revoked at ${new Date(revokedAt).toISOString()}; nothing changed\n` })
    expect(rotateRevoked).toEqual({ code: 1, stdout: '', stderr: "senshagen: device 'garden-002' is revoked (revoked devices get no new secret; register a new id)\n" })
    expect(revokeUnknown).toEqual({ code: 1, stdout: '', stderr: "senshagen: no device 'nope' in the registry\n" })
    expect((JSON.parse(listAfter.stdout) as Array<{ id: string; status: string }>).map((d) => `${d.id} ${d.status}`)).toEqual(['garden-001 active', 'garden-002 revoked', 'tasmota-shed active'])
    expect(listAfter.stderr).toBe('3 device(s): 2 active, 1 revoked\n')
  })

  it('move records a position from a time on; positions shows the history; bad moves are refused naming the option', async () => {
    const reg = await fresh()
    await reg.store.addDevice({ id: 'garden-9', neighbourhood: 'stadshagen', consent: true, location: { lat: 52.5312, lon: 6.0571 } })
    const move = await senshagen(['devices', 'move', 'garden-9', '--lat', '52.5105', '--lon', '6.0921', '--from', '2019-01-17'], reg.env)
    expect(move.code, move.stderr).toBe(0)
    expect(move.stdout).toBe('garden-9 stands at the new position from 2019-01-17T00:00:00.000Z on\n')
    const earlier = await senshagen(['devices', 'move', 'garden-9', '--lat', '52.52', '--lon', '6.07', '--from', '2017-10-07T12:00:00+02:00'], reg.env)
    expect(earlier.stdout).toBe('garden-9 stands at the new position from 2017-10-07T10:00:00.000Z on (a later entry stays its current position)\n')
    expect((await reg.store.device('garden-9'))?.location).toEqual({ lat: 52.5105, lon: 6.0921 })
    // the two history reads and the refused moves at once: a refused move writes nothing (the count at the end)
    const cases: Array<[string[], number, string]> = [
      [['--lat', '95', '--lon', '6'], 2, "--lat: must be decimal degrees from -90 to 90, got '95'\n"],
      [['--lat', '52.5', '--lon', '6', '--from', 'yesterday'], 2, '--from: '],
      [['--lat', '52.5'], 2, "error: required option '--lon <degrees>' not specified\n"],
    ]
    const [history, historyText, unknown, ...refusals] = await Promise.all([
      senshagen(['devices', 'positions', 'garden-9', '--format', 'json'], reg.env),
      senshagen(['devices', 'positions', 'garden-9'], reg.env),
      senshagen(['devices', 'move', 'nope', '--lat', '52.5', '--lon', '6'], reg.env),
      ...cases.map(([args]) => senshagen(['devices', 'move', 'garden-9', ...args], reg.env)),
    ])
    expect(JSON.parse(history.stdout)).toEqual([
      { validFrom: '1970-01-01T00:00:00.000Z', lat: 52.5312, lon: 6.0571 },
      { validFrom: '2017-10-07T10:00:00.000Z', lat: 52.52, lon: 6.07 },
      { validFrom: '2019-01-17T00:00:00.000Z', lat: 52.5105, lon: 6.0921 },
    ])
    expect(historyText.stdout).toBe(
      'VALID FROM                LAT      LON\n1970-01-01T00:00:00.000Z  52.5312  6.0571\n2017-10-07T10:00:00.000Z  52.52    6.07\n2019-01-17T00:00:00.000Z  52.5105  6.0921\n',
    )
    for (const [i, [args, code, message]] of cases.entries()) {
      expect(refusals[i]!.code, args.join(' ')).toBe(code)
      expect(refusals[i]!.stderr, args.join(' ')).toContain(message)
    }
    expect([unknown.code, unknown.stderr]).toEqual([1, "senshagen: no device 'nope' in the registry\n"])
    expect((await reg.store.positions('garden-9')).length).toBe(3)
  }, 240_000) // ten CLI processes, in three rounds

  it('says which registry location is unusable (exit 1)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'senshagen-bad-'))
    try {
      await writeFile(join(dir, 'not-a-db.sqlite'), 'this is not a database, just text that is long enough to be read as a header......')
      const r = await senshagen(['devices', 'list'], { SENSHAGEN_DEVICE_REGISTRY: join(dir, 'not-a-db.sqlite'), SENSHAGEN_NEIGHBOURHOODS: 'config/neighbourhoods.json' })
      expect(r.code).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toBe(`senshagen: device registry ${join(dir, 'not-a-db.sqlite')} cannot be opened (SENSHAGEN_DEVICE_REGISTRY): file is not a database\n`)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('senshagen devices status (per-device report from InfluxDB)', () => {
  const database = uniqueId('devices_status')
  let store: InfluxReadingStore
  const T = (iso: string) => Date.parse(iso)
  const reading = (deviceId: string, observedAt: number, value: number): Reading => ({
    deviceId, quantity: 'pm2_5', value, unit: QUANTITIES.pm2_5.unit, observedAt, receivedAt: observedAt, timeSource: 'device', sourceFormat: 'senshagen-v1', flags: [],
  })

  beforeAll(async () => {
    store = await openInfluxStore({ url: INFLUX_URL, database }, createLogger('silent'))
    await store.ensureDatabase()
    await store.write({
      readings: [reading('garden-001', T('2026-11-30T10:00:00Z'), 8.5), reading('garden-001', T('2026-11-30T10:05:00Z'), 9), reading('garden-002', T('2026-11-30T10:00:00Z'), 4)],
      rejections: [
        { deviceId: 'garden-001', topic: 'senshagen/v1/devices/garden-001/readings', sourceFormat: 'senshagen-v1', receivedAt: T('2026-11-30T10:06:00Z'), path: 'readings.pm2_5', rule: 'range', message: 'too high', value: 5000, raw: '{}' },
      ],
      events: [{ deviceId: 'garden-001', kind: 'online', at: T('2026-11-30T09:59:00Z'), topic: 'senshagen/v1/devices/garden-001/status', sourceFormat: 'senshagen-v1', detail: '{}' }],
    })
  })
  afterAll(async () => {
    await store?.influxql(`DROP DATABASE "${database}"`)
  })

  it('reports readings, rejections by rule and availability, as before under `senshagen devices`', async () => {
    const env = { SENSHAGEN_INFLUX_URL: INFLUX_URL, SENSHAGEN_INFLUX_DATABASE: database }
    const [json, text, one, badFormat] = await Promise.all([
      senshagen(['devices', 'status', '--format', 'json'], env),
      senshagen(['devices', 'status'], env),
      senshagen(['devices', 'status', '--device', 'garden-002', '--format', 'json'], env),
      senshagen(['devices', 'status', '--format', 'yaml'], env),
    ])
    expect(JSON.parse(json.stdout)).toEqual([
      { device: 'garden-001', readings: 2, lastReading: '2026-11-30T10:05:00.000Z', rejections: { range: 1 }, schemaChanges: 0, availability: 'online since 2026-11-30T09:59:00.000Z' },
      { device: 'garden-002', readings: 1, lastReading: '2026-11-30T10:00:00.000Z', rejections: {}, schemaChanges: 0 },
    ])
    expect(text.stdout).toBe(
      'garden-001: 2 readings (last 2026-11-30T10:05:00.000Z), rejections: range=1, schema changes: 0, online since 2026-11-30T09:59:00.000Z\n' +
        'garden-002: 1 readings (last 2026-11-30T10:00:00.000Z), rejections: none, schema changes: 0\n',
    )
    expect(text.stderr).toBe('2 device(s)\n')
    expect(JSON.parse(one.stdout)).toEqual([{ device: 'garden-002', readings: 1, lastReading: '2026-11-30T10:00:00.000Z', rejections: {}, schemaChanges: 0 }])
    expect([badFormat.code, badFormat.stderr]).toEqual([2, "senshagen: --format: must be text or json, got 'yaml'\n"])
  })
})

