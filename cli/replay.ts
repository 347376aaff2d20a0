import { createReadStream, readFileSync, statSync } from 'node:fs'
import { basename } from 'node:path'
import { createInterface } from 'node:readline'
import mqtt from 'mqtt'
import { parseArchiveHeader, parseArchiveRow, type ArchiveRecord, type ArchiveRowRejection } from '../core/decoders/sc-archive.ts'
import { parseMeetJeStadJson } from '../core/decoders/meetjestad.ts'
import { parseDataApiJson } from '../core/decoders/sc-data-api.ts'
import type { NativePayloadV1 } from '../core/native-payload.ts'
import { readingsTopic } from '../core/topics.ts'
import { formatIsoMs } from '../core/time.ts'
import { UnavailableError } from '../core/errors.ts'
import { redactUrl } from '../core/redact.ts'

export interface ReplayOptions {
  mqttUrl: string
  username?: string
  password?: string
  qos: 0 | 1
  /** Most publishes awaiting their PUBACK at once (QoS 1). */
  maxInFlight?: number
  /** Called as bytes of each file are read: (file, bytesRead, fileBytes). */
  onProgress?: (file: string, bytesRead: number, fileBytes: number) => void
  /**
   * Asked once per device id before its first message: may it be published? Records of a device it refuses
   * are not sent and are counted in `FileSummary.unregistered` (the broker refuses the importer's publishes for
   * unregistered devices anyway; asking first gives the operator a clear message instead of a closed connection).
   */
  allowDevice?: (deviceId: string) => Promise<boolean>
  /** Called once per record the broker acknowledged (QoS 1 PUBACK) or that was written (QoS 0). */
  onAcknowledged?: (record: ArchiveRecord) => void
}

export interface FileSummary {
  file: string
  rows: number
  messages: number
  /** Values sent as numbers (the ingest still range-checks them). */
  accepted: number
  /** Empty or non-numeric cells: sent so the ingest dead-letters them with a reason. */
  rejectedValues: number
  /** Rows that could not become a message at all (cut short, bad timestamp). */
  rejectedRows: ArchiveRowRejection[]
  /** Devices `allowDevice` refused (not registered), with the number of their records not sent. */
  unregistered: Record<string, number>
}

/**
 * Replays sensor.community and Meet je Stad files as MQTT traffic: archive CSV files (`*.csv`,
 * core/decoders/sc-archive.ts) row by row, and JSON files (`*.json`) entry by entry: sensor.community data-API
 * JSON (core/decoders/sc-data-api.ts) or the Meet je Stad data API (core/decoders/meetjestad.ts), told apart by
 * their fields (`sensordatavalues` is sensor.community's). Each becomes one
 * native payload v1 on `senshagen/v1/devices/sc-<sensor_id>/readings`, stamped with its original UTC time,
 * values as in the file with their units (`"units":{"air_pressure":"Pa"}`: the ingest converts and keeps the
 * source unit). Resolves once every publish was acknowledged by the broker (QoS 1) or written (QoS 0).
 */
export async function replayArchiveFiles(files: string[], options: ReplayOptions): Promise<FileSummary[]> {
  const client = await mqtt.connectAsync(options.mqttUrl, {
    clientId: `senshagen-replay-${process.pid}-${Date.now().toString(36)}`,
    protocolVersion: 4,
    clean: true,
    username: options.username,
    password: options.password,
    reconnectPeriod: 1_000,
  })
  const maxInFlight = options.maxInFlight ?? 64
  const inFlight = new Set<Promise<unknown>>()
  const allowed = new Map<string, boolean>()
  // Our broker answers a publish it refuses (a device that is not registered or was revoked) by closing the
  // connection, and mqtt.js would resend it after every reconnect, forever: give up after CLOSES_WITHOUT_ACK.
  let closesWithoutAck = 0
  let giveUp: (error: Error) => void = () => undefined
  const gaveUp = new Promise<never>((_resolve, reject) => (giveUp = reject))
  gaveUp.catch(() => undefined)
  // only a connection the broker accepted counts: a broker that is down (refused reconnects) is waited for, not
  // given up on. (mqtt.js emits `connect` only after resending its unacknowledged publishes, so a broker that
  // closes the connection on the resent publish never causes a `connect` event: look at the CONNACK instead.)
  let connectedSinceClose = true
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'connack' && (packet.returnCode ?? 0) === 0) connectedSinceClose = true
  })
  client.on('close', () => {
    if (!connectedSinceClose) return
    connectedSinceClose = false
    if (inFlight.size > 0 && ++closesWithoutAck >= CLOSES_WITHOUT_ACK) {
      giveUp(new UnavailableError(`${redactUrl(options.mqttUrl)} closed the connection ${closesWithoutAck} times without acknowledging a publish: is every device registered and not revoked, and are the importer's credentials right?`))
    }
  })
  const publish = async (record: ArchiveRecord): Promise<boolean> => {
    let allow = allowed.get(record.deviceId)
    if (allow === undefined) allowed.set(record.deviceId, (allow = options.allowDevice ? await options.allowDevice(record.deviceId) : true))
    if (!allow) return false
    while (inFlight.size >= maxInFlight) await Promise.race([...inFlight, gaveUp])
    const payload: NativePayloadV1 = {
      v: 1,
      device: record.deviceId,
      time: formatIsoMs(record.observedAt),
      sensor: record.sensorModel,
      readings: record.readings as NativePayloadV1['readings'],
      ...(Object.keys(record.units).length ? { units: record.units as Record<string, string> } : {}),
    }
    const sent = client.publishAsync(readingsTopic(record.deviceId), JSON.stringify(payload), { qos: options.qos }).then(() => {
      closesWithoutAck = 0
      options.onAcknowledged?.(record)
    })
    inFlight.add(sent)
    void sent.finally(() => inFlight.delete(sent)).catch(() => undefined)
    return true
  }

  const summaries: FileSummary[] = []
  try {
    for (const file of files) {
      summaries.push(file.endsWith('.json') ? await replayJsonFile(file, publish, options.onProgress) : await replayFile(file, publish, options.onProgress))
    }
    await Promise.race([Promise.all(inFlight), gaveUp])
  } finally {
    await client.endAsync(closesWithoutAck >= CLOSES_WITHOUT_ACK)
  }
  return summaries
}

/** Connection closes in a row with publishes outstanding and none acknowledged before replay gives up. */
const CLOSES_WITHOUT_ACK = 3

async function replayFile(
  file: string,
  publish: Publish,
  onProgress: ReplayOptions['onProgress'],
): Promise<FileSummary> {
  const summary: FileSummary = { file: basename(file), rows: 0, messages: 0, accepted: 0, rejectedValues: 0, rejectedRows: [], unregistered: {} }
  const fileBytes = statSync(file).size
  const stream = createReadStream(file, { encoding: 'utf8' })
  let bytesRead = 0
  let header: string[] | undefined
  let line = 0
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
    line++
    bytesRead += Buffer.byteLength(text) + 1
    if (line % 200 === 0) onProgress?.(file, Math.min(bytesRead, fileBytes), fileBytes)
    if (header === undefined) {
      header = parseArchiveHeader(text)
      continue
    }
    if (text.trim() === '') continue
    summary.rows++
    const result = parseArchiveRow(header, text, line)
    if (!result.ok) {
      summary.rejectedRows.push(result.rejection)
      continue
    }
    await count(summary, result.record, publish)
  }
  if (header === undefined) throw new Error(`${file}: empty file, no header row`)
  onProgress?.(file, fileBytes, fileBytes)
  return summary
}

async function replayJsonFile(file: string, publish: Publish, onProgress: ReplayOptions['onProgress']): Promise<FileSummary> {
  const summary: FileSummary = { file: basename(file), rows: 0, messages: 0, accepted: 0, rejectedValues: 0, rejectedRows: [], unregistered: {} }
  const { records, rejections } = parseJsonFile(readFileSync(file, 'utf8'))
  summary.rows = records.length + rejections.length
  summary.rejectedRows.push(...rejections)
  for (const record of records) await count(summary, record, publish)
  const size = statSync(file).size
  onProgress?.(file, size, size)
  return summary
}

/** Publishes one record and counts it: as sent, or as refused when its device is not registered. */
async function count(summary: FileSummary, record: ArchiveRecord, publish: Publish): Promise<void> {
  if (!(await publish(record))) {
    summary.unregistered[record.deviceId] = (summary.unregistered[record.deviceId] ?? 0) + 1
    return
  }
  const values = Object.values(record.readings)
  const numeric = values.filter((v) => typeof v === 'number').length
  summary.accepted += numeric
  summary.rejectedValues += values.length - numeric
  summary.messages++
}

/** Sends one record; false when its device may not be published (not registered). */
type Publish = (record: ArchiveRecord) => Promise<boolean>

/** sensor.community data-API JSON has `sensordatavalues` in its entries; anything else is read as Meet je Stad. */
function parseJsonFile(text: string): ReturnType<typeof parseDataApiJson> {
  let first: unknown
  try {
    const json: unknown = JSON.parse(text)
    first = Array.isArray(json) ? json[0] : json
  } catch {
    return parseDataApiJson(text) // reports the JSON error
  }
  const isSensorCommunity = typeof first === 'object' && first !== null && 'sensordatavalues' in first
  return isSensorCommunity ? parseDataApiJson(text) : parseMeetJeStadJson(text)
}
