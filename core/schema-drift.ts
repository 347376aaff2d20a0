import type { Candidate, DecodeResult } from './decoders/decoder.ts'
import type { DeviceEvent } from './reading.ts'

/**
 * Schema drift per device: the keys a device sends, the JSON type of each value and its sensor models.
 * Readings keep being mapped by quantity by the decoders; this only records that something changed:
 * a new key, a key whose value type changed (number → string, say), or a new sensor model yields a
 * `schema_change` DeviceEvent (stored in measurement `device_event`, listed by `senshagen devices status`).
 * The first message of a device records its initial schema the same way (`first: true`).
 *
 * Removed keys are not reported: formats such as ESPHome send one key per message, so absence means nothing.
 * Memory: at most `maxDevices` devices (least recently seen dropped) and 200 keys per device.
 *
 * Restarts: the state is what the stored `schema_change` events say. Each event's detail carries the device's whole
 * schema after the change (`schema: {keys: {path: type}, models: [...]}`), and `seed` reads the events back (oldest
 * first; loadSchemaHistory), so a restarted ingest records no change a device did not make. Events written before
 * `schema` existed are folded (`first` resets, `added`/`changed`/`models.added` apply).
 */
export type ValueType = 'number' | 'numeric-string' | 'string' | 'null' | 'boolean' | 'object' | 'array' | 'undefined'

export function valueType(value: unknown): ValueType {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  // a dead sensor's "nan" is still the numeric-string type of its key, not a schema change
  if (typeof value === 'string') return /^\s*([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity))\s*$/i.test(value) ? 'numeric-string' : 'string'
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'object' || typeof value === 'undefined') return typeof value as ValueType
  return 'string'
}

interface DeviceSchema {
  keys: Map<string, string>
  models: Set<string>
}

const MAX_KEYS = 200

/** One stored `schema_change` event as read back: device id and detail JSON text (DeviceEvent.detail). */
export interface SchemaChangeRecord {
  deviceId: string
  detail: string
}

/** What a schema_change detail holds (JSON); `schema` is absent on events written before restarts were seeded. */
interface SchemaChangeDetail {
  first?: boolean
  added?: string[]
  changed?: Array<{ key: string; to: string }>
  models?: { added?: string[] }
  schema?: { keys: Record<string, string>; models: string[] }
}

export class SchemaDriftTracker {
  private readonly devices = new Map<string, DeviceSchema>()

  constructor(private readonly maxDevices = 100_000) {}

  /**
   * Takes the state stored `schema_change` events describe, oldest first per device (how InfluxQL returns them).
   * A detail that is not JSON is skipped. Returns the number of devices known afterwards.
   */
  seed(records: Iterable<SchemaChangeRecord>): number {
    for (const { deviceId, detail: text } of records) {
      let detail: SchemaChangeDetail
      try {
        detail = JSON.parse(text) as SchemaChangeDetail
      } catch {
        continue
      }
      if (detail.schema) {
        this.devices.delete(deviceId)
        this.devices.set(deviceId, { keys: new Map(Object.entries(detail.schema.keys)), models: new Set(detail.schema.models) })
        continue
      }
      const known = detail.first ? undefined : this.devices.get(deviceId)
      const schema = known ?? { keys: new Map<string, string>(), models: new Set<string>() }
      for (const entry of detail.added ?? []) {
        const colon = entry.lastIndexOf(':') // `key:type`; types and units hold no colon
        if (colon > 0 && schema.keys.size < MAX_KEYS) schema.keys.set(entry.slice(0, colon), entry.slice(colon + 1))
      }
      for (const { key, to } of detail.changed ?? []) schema.keys.set(key, to)
      for (const model of detail.models?.added ?? []) schema.models.add(model)
      this.devices.delete(deviceId)
      this.devices.set(deviceId, schema)
    }
    while (this.devices.size > this.maxDevices) this.devices.delete(this.devices.keys().next().value!)
    return this.devices.size
  }

  /** Schema-change events for what this message shows, given its topic and receipt time. */
  observe(decoded: Pick<DecodeResult, 'candidates' | 'ignored'>, topic: string, receivedAt: number, format = 'unknown'): DeviceEvent[] {
    if (this.unchanged(decoded)) return []
    const byDevice = new Map<string, { keys: Map<string, string>; models: Set<string>; format: string }>()
    const entry = (deviceId: string, format: string) => {
      let e = byDevice.get(deviceId)
      if (!e) byDevice.set(deviceId, (e = { keys: new Map(), models: new Set(), format }))
      return e
    }
    for (const c of decoded.candidates) {
      const e = entry(c.deviceId, c.sourceFormat)
      e.keys.set(c.path, describe(c))
      if (c.sensorModel) e.models.add(c.sensorModel)
    }
    for (const i of decoded.ignored ?? []) entry(i.deviceId, format).keys.set(i.path, i.type)

    const events: DeviceEvent[] = []
    for (const [deviceId, seen] of byDevice) {
      const known = this.devices.get(deviceId)
      this.devices.delete(deviceId)
      const schema = known ?? { keys: new Map<string, string>(), models: new Set<string>() }
      const added: string[] = []
      const changed: Array<{ key: string; from: string; to: string }> = []
      for (const [key, type] of seen.keys) {
        if (type.startsWith('null') || type.startsWith('undefined')) continue // a missing value says nothing about the schema
        const before = schema.keys.get(key)
        if (before === undefined) {
          if (schema.keys.size < MAX_KEYS) schema.keys.set(key, type)
          added.push(`${key}:${type}`)
        } else if (before !== type) {
          schema.keys.set(key, type)
          changed.push({ key, from: before, to: type })
        }
      }
      const newModels = [...seen.models].filter((m) => !schema.models.has(m))
      const previousModels = [...schema.models]
      for (const m of newModels) schema.models.add(m)
      this.devices.set(deviceId, schema)
      if (added.length || changed.length || newModels.length) {
        const detail = {
          first: known === undefined,
          added,
          changed,
          models: { before: previousModels, added: newModels },
          schema: { keys: Object.fromEntries(schema.keys), models: [...schema.models] },
        }
        events.push({ deviceId, kind: 'schema_change', at: receivedAt, topic, sourceFormat: seen.format, detail: JSON.stringify(detail) })
      }
    }
    while (this.devices.size > this.maxDevices) this.devices.delete(this.devices.keys().next().value!)
    return events
  }

  /**
   * The common case, answered without building anything: one device's message with no ignored keys whose every
   * key, type and sensor model is already known. Marks the device recently seen, as `observe` would.
   */
  private unchanged(decoded: Pick<DecodeResult, 'candidates' | 'ignored'>): boolean {
    const first = decoded.candidates[0]
    if (first === undefined || decoded.ignored?.length) return false
    const schema = this.devices.get(first.deviceId)
    if (schema === undefined) return false
    for (const c of decoded.candidates) {
      if (c.deviceId !== first.deviceId || (c.sensorModel && !schema.models.has(c.sensorModel))) return false
      const type = describe(c)
      if (!(type.startsWith('null') || type.startsWith('undefined')) && schema.keys.get(c.path) !== type) return false
    }
    this.devices.delete(first.deviceId)
    this.devices.set(first.deviceId, schema)
    return true
  }
}

function describe(c: Candidate): string {
  return c.unit === undefined ? valueType(c.value) : `${valueType(c.value)}[${c.unit}]`
}
