import { execFile } from 'node:child_process'
import { basename } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { replayArchiveFiles, type FileSummary } from '../../cli/replay.ts'
import type { Config } from '../../core/config.ts'
import { createLogger } from '../../core/logger.ts'
import { openInfluxStore, type InfluxReadingStore } from '../../core/store/influx.ts'
import type { RunningBroker } from '../../services/broker/broker.ts'
import { startFrontDoor } from '../../cli/front-door.ts'
import { runWriter } from '../../services/writer/main.ts'
import { ARCHIVE_DEVICES, ARCHIVE_DIR, archiveFiles, expectedFromFile, sameAsCell } from '../helpers/archive-expectations.ts'
import { KAFKA_BROKERS, isolatedConfig, isolatedEnv, uniqueId, waitFor } from '../helpers/env.ts'
import { testRegistry, type TestRegistry } from '../helpers/registry.ts'

const run = promisify(execFile)
const logger = createLogger('warn')
const files = archiveFiles()
const expected = files.map((file) => ({ file: basename(file), ...expectedFromFile(file) }))
const totalValues = expected.reduce((n, e) => n + e.values.length, 0)

/**
 * Every sensor.community archive fixture replayed over MQTT through the whole spine — the broker with its
 * in-process ingest, as `senshagen up` runs it — and read back: every stored value and UTC timestamp must equal
 * the file's, exactly once, in Kafka mode and in direct mode.
 */
describe.each(['kafka', 'direct'] as const)('replay of every archive fixture (%s mode)', (mode) => {
  const id = uniqueId(`e2e_${mode}`)
  const overrides: Record<string, string> = mode === 'kafka' ? { SENSHAGEN_KAFKA_BROKERS: KAFKA_BROKERS } : {}
  let config: Config
  let store: InfluxReadingStore
  let summaries: FileSummary[]
  let stop: () => Promise<void>
  let registry: TestRegistry
  let broker: RunningBroker

  beforeAll(async () => {
    registry = await testRegistry(ARCHIVE_DEVICES)
    Object.assign(overrides, registry.env)
    const base = isolatedConfig(id, overrides)
    // as `senshagen up` runs it: the broker with the ingest in its process
    const frontDoor = await startFrontDoor(base, logger, registry.store)
    broker = frontDoor.broker
    config = { ...base, mqtt: { ...base.mqtt, url: `mqtt://127.0.0.1:${broker.port}` } }
    const writer = config.kafka ? await runWriter(config, logger) : undefined
    stop = async () => {
      await frontDoor.stop()
      await writer?.stop()
      await registry.close()
    }
    store = await openInfluxStore(config.influx, logger)
    summaries = await replayArchiveFiles(files, { mqttUrl: config.mqtt.url, ...registry.service.importer, qos: 1 })
    await waitFor(`${totalValues} stored readings`, async () => {
      const series = await store.influxql('SELECT count("value") FROM reading')
      return series[0]?.values[0]?.[1] === totalValues
    }, 60_000)
  }, 120_000)

  afterAll(async () => {
    await stop?.()
    await store?.influxql(`DROP DATABASE "${id}"`)
  })

  it('publishes one message per complete row and reports accepted and rejected values per file', () => {
    expect(summaries.map((s) => [s.file, s.rows, s.messages, s.accepted, s.rejectedValues, s.rejectedRows.length])).toEqual([
      ['2017-10-07_dht22_sensor_5332.csv', 146, 146, 292, 0, 0],
      ['2017-10-07_sds011_sensor_5331.csv', 146, 146, 292, 0, 0],
      ['2018-07-08_bme280_sensor_15093.csv', 574, 574, 1722, 0, 0],
      ['2018-12-17_sds011_sensor_8733.csv', 575, 575, 1150, 0, 0],
      ['2019-01-17_sds011_sensor_5331.csv', 125, 124, 248, 0, 1],
      ['2019-03-09_sds011_sensor_22885.csv', 9, 9, 16, 2, 0],
      ['written_2016-07-14_sds011_sensor_92_legacy-timestamps.csv', 2, 2, 4, 0, 0],
      ['written_2017-11-26_bmp280_sensor_2184_empty-pressure.csv', 2, 2, 3, 1, 0],
      ['written_2024-01-15_sps30_sensor_90001.csv', 3, 3, 8, 4, 0],
    ])
    expect(totalValues).toBe(3735)
    // the broker stored every message before its PUBACK; none was refused or lost on the way
    expect(broker.ingest?.acknowledged).toBeGreaterThanOrEqual(summaries.reduce((n, s) => n + s.messages, 0))
    expect(broker.ingest).toMatchObject({ refused: 0, dropped: 0 })
  })

  it('stores exactly the files’ values at the files’ UTC timestamps, nothing more', async () => {
    for (const file of expected) {
      const groups = new Map<string, typeof file.values>()
      for (const v of file.values) groups.set(`${v.device}|${v.quantity}`, [...(groups.get(`${v.device}|${v.quantity}`) ?? []), v])
      for (const [key, values] of groups) {
        const [device, quantity] = key.split('|') as [string, never]
        const stored = await store.queryReadings({ deviceId: device, quantity, from: values[0]!.time - 86_400_000, to: values.at(-1)!.time + 86_400_000 })
        expect(stored.map((s) => s.time), `${file.file} ${key} timestamps`).toEqual(values.map((v) => v.time))
        const mismatches = stored.filter((s, i) => !sameAsCell(quantity, s.value, values[i]!.cell))
        expect(mismatches, `${file.file} ${key} values`).toEqual([])
      }
    }
  })

  it('keeps the values the files spell out, converted to canonical units', async () => {
    const first = async (device: string, quantity: never, iso: string) =>
      (await store.queryReadings({ deviceId: device, quantity, from: Date.parse(iso), to: Date.parse(iso) + 1 }))[0]?.value
    // 5331;SDS011;…;2017-10-07T12:29:51;7.97;;;2.40;;  (P1 is PM10, P2 is PM2.5)
    expect(await first('sc-5331', 'pm10' as never, '2017-10-07T12:29:51Z')).toBe(7.97)
    expect(await first('sc-5331', 'pm2_5' as never, '2017-10-07T12:29:51Z')).toBe(2.4)
    // 15093;BME280;…;2018-07-08T00:01:27;102506.41;;;14.60;79.37  (Pa → hPa)
    expect(await first('sc-15093', 'air_pressure' as never, '2018-07-08T00:01:27Z')).toBe(1025.0641)
    expect(await first('sc-15093', 'air_temperature' as never, '2018-07-08T00:01:27Z')).toBe(14.6)
    // 92;SDS011;…;2016-07-14T13:02:46.949036+00:00;7.71  (microseconds truncated to ms)
    expect(await first('sc-92', 'pm10' as never, '2016-07-14T13:02:46.949Z')).toBe(7.71)
    // 8733;SDS011;…;2018-12-17T09:21:48;1999.90;;;999.90  SDS011 saturation lies inside the physical
    // range and is stored as it is (the saturation quality flag is issue 3's)
    expect(await first('sc-8733', 'pm10' as never, '2018-12-17T09:21:48Z')).toBe(1999.9)
    expect(await first('sc-8733', 'pm2_5' as never, '2018-12-17T09:21:48Z')).toBe(999.9)
  })

  it('stores the SDS011 saturation hour flagged, with nothing else flagged saturated that day', async () => {
    const day = { deviceId: 'sc-8733', from: Date.parse('2018-12-17T00:00:00Z'), to: Date.parse('2018-12-18T00:00:00Z') }
    const pm10 = await store.queryReadings({ ...day, quantity: 'pm10' })
    const saturated = pm10.filter((r) => r.flags.includes('saturated'))
    expect(saturated.map((r) => [new Date(r.time).toISOString(), r.value])).toEqual([
      ['2018-12-17T09:14:24.000Z', 1999.9],
      ['2018-12-17T09:16:52.000Z', 1999.9],
      ['2018-12-17T09:19:20.000Z', 1999.9],
      ['2018-12-17T09:21:48.000Z', 1999.9],
      ['2018-12-17T09:24:16.000Z', 1999.9],
      ['2018-12-17T09:26:46.000Z', 1999.9],
      ['2018-12-17T09:29:14.000Z', 1999.9],
    ])
    expect(pm10.filter((r) => r.value >= 1999.9)).toHaveLength(7)
    const pm25 = await store.queryReadings({ ...day, quantity: 'pm2_5' })
    expect(pm25.filter((r) => r.flags.includes('saturated')).map((r) => r.value)).toEqual(pm25.filter((r) => r.value >= 999.9).map((r) => r.value))
    // the pressure values of the BME280 day carry their source unit and raw value
    const [pressure] = await store.influxql(`SELECT "value", "raw_value", "source_unit" FROM reading WHERE device = 'sc-15093' AND quantity = 'air_pressure' AND time = '2018-07-08T00:01:27Z'`)
    expect(pressure!.values).toEqual([[Date.parse('2018-07-08T00:01:27Z'), 1025.0641, 102506.41, 'Pa']])
  })

  it('dead-letters the row with every value empty, one rejection per quantity, and keeps its raw payload', async () => {
    const rejections = await store.queryRejections({ deviceId: 'sc-22885' })
    expect(rejections.map((r) => [new Date(r.time).toISOString(), r.path, r.rule])).toEqual([
      ['2019-03-09T23:40:58.000Z', 'readings.pm10', 'missing'],
      ['2019-03-09T23:40:58.000Z', 'readings.pm2_5', 'missing'],
    ])
    expect(JSON.parse(rejections[0]!.raw)).toEqual({
      v: 1,
      device: 'sc-22885',
      time: '2019-03-09T23:40:58.000Z',
      sensor: 'SDS011',
      readings: { pm10: null, pm2_5: null },
    })
  })

  it('stores the good value of a row and dead-letters the empty one beside it', async () => {
    // 2184;BMP280;…;2017-11-26T00:00:35;;;;2.60  (pressure empty, temperature present)
    const time = Date.parse('2017-11-26T00:00:35Z')
    expect(await store.queryReadings({ deviceId: 'sc-2184', quantity: 'air_temperature', from: time, to: time + 1 })).toEqual([
      { time, deviceId: 'sc-2184', quantity: 'air_temperature', value: 2.6, flags: [] },
    ])
    expect(await store.queryReadings({ deviceId: 'sc-2184', quantity: 'air_pressure', from: time, to: time + 1 })).toEqual([])
    const rejections = await store.queryRejections({ deviceId: 'sc-2184' })
    expect(rejections.map((r) => [r.time, r.path, r.rule, r.message, r.value])).toEqual([[time, 'readings.air_pressure', 'missing', 'no value reported', 'null']])
  })

  it('rejects the row cut short at the end of the truncated file instead of storing a partial value', () => {
    const truncated = summaries.find((s) => s.file === '2019-01-17_sds011_sensor_5331.csv')!
    expect(truncated.rejectedRows).toEqual([{ line: 126, rule: 'truncated', message: 'line 126: row has 4 of 12 columns', raw: '5331;SDS011;3121;' }])
  })

  it('replays JSON files too: sensor.community data-API and Meet je Stad data API', async () => {
    const summaries = await replayArchiveFiles(
      [`${ARCHIVE_DIR}written_data-api_sensor-community_v1.json`, new URL('../fixtures/devices/meetjestad/written_data-api_sensors.json', import.meta.url).pathname],
      { mqttUrl: config.mqtt.url, ...registry.service.importer, qos: 1 },
    )
    expect(summaries.map((s) => [s.file, s.messages])).toEqual([
      ['written_data-api_sensor-community_v1.json', 2],
      ['written_data-api_sensors.json', 4],
    ])
    // {"timestamp":"2024-01-15 10:28:31", sensor 90003 BME280, pressure "101263.52"} → 1012.6352 hPa at that UTC time
    await waitFor('data-API pressure', async () => (await store.queryReadings({ deviceId: 'sc-90003', quantity: 'air_pressure', from: 0, to: 2e12 })).length === 1, 30_000)
    expect(await store.queryReadings({ deviceId: 'sc-90003', quantity: 'air_pressure', from: 0, to: 2e12 })).toEqual([
      { time: Date.UTC(2024, 0, 15, 10, 28, 31), deviceId: 'sc-90003', quantity: 'air_pressure', value: 1012.6352, flags: [] },
    ])
    // Meet je Stad station 173, "2021-05-04 09:00:04" UTC: humidity 107.875 % is stored, flagged
    await waitFor('Meet je Stad humidity', async () => (await store.queryReadings({ deviceId: 'mjs-173', quantity: 'relative_humidity', from: 0, to: 2e12 })).length === 1, 30_000)
    expect(await store.queryReadings({ deviceId: 'mjs-173', quantity: 'relative_humidity', from: 0, to: 2e12 })).toEqual([
      { time: Date.UTC(2021, 4, 4, 9, 0, 4), deviceId: 'mjs-173', quantity: 'relative_humidity', value: 107.875, flags: ['rh_above_100'] },
    ])
  })

  it('gives up with a clear error when the broker keeps refusing a publish (a device that is not registered)', async () => {
    await registry.store.revoke('sc-92')
    await broker.pollRegistry() // the broker learns of revocations by polling (SENSHAGEN_MQTT_REGISTRY_POLL_MS)
    const legacy = files.filter((f) => f.includes('sensor_92_'))
    expect(legacy).toHaveLength(1)
    await expect(replayArchiveFiles(legacy, { mqttUrl: config.mqtt.url, ...registry.service.importer, qos: 1 })).rejects.toThrow(
      /closed the connection 3 times without acknowledging a publish: is every device registered and not revoked/,
    )
  })

  it('senshagen query prints the same values as CSV and JSON whatever the machine’s time zone', async () => {
    const env = { ...process.env, ...isolatedEnv(id, overrides), TZ: 'Europe/Amsterdam' }
    const args = ['bin/senshagen.js', 'query', '--device', 'sc-5331', '--quantity', 'pm10', '--from', '2017-10-07T12:29:00Z', '--to', '2017-10-07T12:35:00Z']
    const csv = await run('node', [...args, '--format', 'csv'], { env })
    expect(csv.stdout).toBe(
      // the API's columns (services/api/readings-query.ts): a raw value is uncalibrated, with no uncertainty
      'time,device,quantity,unit,value,uncertainty,label,flags\n' +
        '2017-10-07T12:29:51.000Z,sc-5331,pm10,µg/m³,7.97,,uncalibrated,\n' +
        '2017-10-07T12:32:19.000Z,sc-5331,pm10,µg/m³,6.8,,uncalibrated,\n' +
        '2017-10-07T12:34:47.000Z,sc-5331,pm10,µg/m³,6.87,,uncalibrated,\n',
    )
    const json = await run('node', [...args, '--format', 'json'], { env })
    const row = { device: 'sc-5331', quantity: 'pm10', unit: 'µg/m³', uncertainty: null, label: 'uncalibrated', flags: [] }
    // the API's whole document (services/api/readings-document.ts); its rows are the CSV's
    expect((JSON.parse(json.stdout) as { rows: unknown[] }).rows).toEqual([
      { time: '2017-10-07T12:29:51.000Z', ...row, value: 7.97 },
      { time: '2017-10-07T12:32:19.000Z', ...row, value: 6.8 },
      { time: '2017-10-07T12:34:47.000Z', ...row, value: 6.87 },
    ])
  })
})
