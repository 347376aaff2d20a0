import { DeviceIdSchema, RULES, UNKNOWN_DEVICE, type DeviceEvent } from '../reading.ts'
import { parseLenientJson } from '../lenient-json.ts'
import { wholeMessageRejection, type Candidate, type DecodeResult, type Decoder, type DecoderFactory, type InboundMessage } from './decoder.ts'

/**
 * ESPHome nodes in MQTT mode (esphome/esphome @33fdbbe3, `esphome/components/mqtt`: `__init__.py`,
 * `mqtt_component.cpp`, `mqtt_sensor.cpp`, `mqtt_const.h`; fixtures in test/fixtures/devices/esphome/).
 *
 * Topics, with `<prefix>` = `topic_prefix`, which defaults to the node name:
 * | topic                                            | payload                                  | retained |
 * |--------------------------------------------------|------------------------------------------|----------|
 * | `<prefix>/sensor/<object_id>/state`              | the value as plain text: `8.4`, `6`, `nan` (sensor failure); no unit, no time | yes (default `retain: true`) |
 * | `<prefix>/status`                                | `online` (birth) / `offline` (will)      | yes |
 * | `homeassistant/sensor/<node>/<object_id>/config` | Home Assistant discovery JSON; empty = entity removed | yes |
 *
 * The discovery config is the only place the unit lives. Keys are abbreviated by default (`dev_cla`,
 * `unit_of_meas`, `stat_t`, `avty_t`, `dev{ids,name,mdl,mf,sw}`) or long with `use_abbreviations: false`
 * (`device_class`, `unit_of_measurement`, `state_topic`, `device{identifiers,name,model}`); both are read.
 * `object_id` = the name lower-cased, spaces → `_`, every byte outside `[A-Za-z0-9_-]` → `_` (objectIdFromName).
 *
 * Decisions:
 * - The decoder is stateful (one instance per ingest): discovery configs are remembered by state topic
 *   (`skipped: 'discovery'`), an empty config forgets the entity (`skipped: 'discovery removed'`). At most
 *   MAX_ENTITIES are kept; the oldest is dropped beyond that (the map is fed by whoever may publish).
 * - A *retained* state is what the broker replays on (re)subscribe: a stale value of unknown age, not a new
 *   reading, so it yields nothing (`skipped: 'stale retained state'`). Only live (non-retained) states become
 *   candidates. Consequence: a node that publishes rarely shows its first value only on its next publish.
 * - Live state, entity known: the quantity comes from the device class (DEVICE_CLASS_QUANTITIES) and
 *   `Candidate.unit` is the discovery unit, always (the validate step converts, e.g. °F, Pa). The value is
 *   the payload text as sent (`'8.4'`, `'nan'`); time = receipt (`timeSource: 'receipt'`).
 *   A device class outside the vocabulary (signal_strength, voltage, …) is `ignored` with
 *   `type` = the device class; no device class → rejection `unknown_quantity`; known class but no unit →
 *   rejection `unit`.
 * - Live state, entity unknown (no discovery seen, none configured) → rejection `unit` ("no Home Assistant
 *   discovery config seen for this state topic: unit unknown"); the value is never guessed.
 * - An empty state payload (someone cleared the retained message) → `skipped: 'empty state'`.
 * - `<prefix>/status` → DeviceEvent `online`/`offline` at receipt time, `detail` `{"retained":…}` (a retained
 *   status is the current availability, but `at` is then when we heard it, not when it changed);
 *   `skipped: 'availability'`.
 * - Device id: `esphome-<prefix>` (the state/status prefix, not the discovery `<node>` level, so readings and
 *   availability share one id). A prefix that does not make a valid DeviceId → rejection `schema`, path `topic`.
 * - sensorModel stays unset: discovery only names the board (`mdl`, e.g. nodemcuv2), never the sensor chip.
 *
 * Static configuration (entities whose discovery is disabled, `discovery: false`): pass
 * `{ entities: { '<state topic>': { unit, device_class } } }` to esphomeDecoderFactory, or call
 * `registerEntity` on an EsphomeDecoder. A discovery config for the same state topic takes precedence.
 */
export const ESPHOME_FORMAT = 'esphome'

/** What a discovery config (or static configuration) says about one sensor entity. */
export interface EsphomeEntity {
  /** Home Assistant device class (`temperature`, `pm25`, …). */
  device_class?: string
  /** Unit of measurement as ESPHome sends it (`°C`, `µg/m³`, `hPa`, `dBm`). */
  unit?: string
  /** Friendly name (`BME280 Temperature`). */
  name?: string
  /** Board model from the device block (`nodemcuv2`), informational. */
  model?: string
  /** `<node>` level of the discovery topic. */
  node?: string
  /** `<object_id>` level of the discovery topic. */
  object_id?: string
}

export interface EsphomeOptions {
  /** Entities known without discovery, keyed by exact state topic. */
  entities?: Record<string, EsphomeEntity>
}

/**
 * Home Assistant sensor device class → SensHagen quantity. Classes not listed are not in the vocabulary.
 * (`precipitation` is an amount in HA; a node reporting a running total will look like rain every reading.)
 */
export const DEVICE_CLASS_QUANTITIES: Readonly<Record<string, string>> = {
  temperature: 'air_temperature',
  humidity: 'relative_humidity',
  pressure: 'air_pressure',
  atmospheric_pressure: 'air_pressure',
  pm1: 'pm1',
  pm25: 'pm2_5',
  pm10: 'pm10',
  nitrogen_dioxide: 'no2',
  precipitation: 'precipitation',
  wind_speed: 'wind_speed',
  moisture: 'soil_moisture',
}

export const MAX_ENTITIES = 10_000
const SEVEN_DAYS_MS = 7 * 24 * 3_600_000
const DISCOVERY_PREFIX = 'homeassistant'

/** ESPHome's object_id for a name: lower case, space → `_`, every other byte outside [a-z0-9_-] → `_`. */
export function objectIdFromName(name: string): string {
  let out = ''
  for (const byte of Buffer.from(name.toLowerCase().replace(/ /g, '_'), 'utf8')) {
    const ch = String.fromCharCode(byte)
    out += /[a-z0-9_-]/.test(ch) ? ch : '_'
  }
  return out
}

export class EsphomeDecoder implements Decoder {
  readonly format = ESPHOME_FORMAT
  readonly topicFilters = [`${DISCOVERY_PREFIX}/sensor/+/+/config`, '+/sensor/+/state', '+/status']
  readonly maxAgeMs = SEVEN_DAYS_MS
  /** From discovery, by state topic (insertion order = age, for eviction). */
  private readonly discovered = new Map<string, EsphomeEntity>()
  /** Discovery topic → the state topic its config named, to forget on an empty config. */
  private readonly stateTopicOf = new Map<string, string>()
  private readonly configured = new Map<string, EsphomeEntity>()

  constructor(options: EsphomeOptions = {}) {
    for (const [topic, entity] of Object.entries(options.entities ?? {})) this.registerEntity(topic, entity)
  }

  /** Declares an entity statically (no discovery), by its exact state topic. */
  registerEntity(stateTopic: string, entity: EsphomeEntity): void {
    this.configured.set(stateTopic, { ...entity })
  }

  /** The entity known for a state topic (discovery first, then static configuration). */
  entity(stateTopic: string): EsphomeEntity | undefined {
    return this.discovered.get(stateTopic) ?? this.configured.get(stateTopic)
  }

  decode(message: InboundMessage): DecodeResult {
    const levels = message.topic.split('/')
    if (levels.length === 5 && levels[0] === DISCOVERY_PREFIX && levels[1] === 'sensor' && levels[4] === 'config') {
      return this.discovery(message, levels[2]!, levels[3]!)
    }
    if (levels.length === 4 && levels[1] === 'sensor' && levels[3] === 'state') return this.state(message, levels[0]!, levels[2]!)
    if (levels.length === 2 && levels[1] === 'status') return this.status(message, levels[0]!)
    return reject(message, UNKNOWN_DEVICE, 'topic', RULES.schema, 'not an ESPHome sensor state, status or discovery topic', message.topic)
  }

  private discovery(message: InboundMessage, node: string, objectId: string): DecodeResult {
    const deviceId = deviceIdFor(node) ?? UNKNOWN_DEVICE
    const text = message.payload.toString('utf8')
    if (text.trim() === '') {
      const stateTopic = this.stateTopicOf.get(message.topic)
      this.stateTopicOf.delete(message.topic)
      if (stateTopic !== undefined) this.discovered.delete(stateTopic)
      return { candidates: [], rejections: [], skipped: 'discovery removed' }
    }
    const parsed = parseLenientJson(text)
    if (!parsed.ok) return reject(message, deviceId, '$', RULES.json, `discovery config is not JSON: ${parsed.message}`)
    const config = asRecord(parsed.value)
    if (!config) return reject(message, deviceId, '$', RULES.schema, 'discovery config must be a JSON object')
    const base = str(config['~'])
    const stateTopic = expandBase(str(config.stat_t) ?? str(config.state_topic), base)
    if (stateTopic === undefined) return reject(message, deviceId, 'stat_t', RULES.schema, 'discovery config has no state topic (stat_t / state_topic)')
    const device = asRecord(config.dev) ?? asRecord(config.device) ?? {}
    const entity: EsphomeEntity = { node, object_id: objectId }
    const deviceClass = str(config.dev_cla) ?? str(config.device_class)
    const unit = str(config.unit_of_meas) ?? str(config.unit_of_measurement)
    const name = str(config.name)
    const model = str(device.mdl) ?? str(device.model)
    if (deviceClass !== undefined) entity.device_class = deviceClass
    if (unit !== undefined) entity.unit = unit
    if (name !== undefined) entity.name = name
    if (model !== undefined) entity.model = model

    const previous = this.stateTopicOf.get(message.topic)
    if (previous !== undefined && previous !== stateTopic) this.discovered.delete(previous)
    this.discovered.delete(stateTopic) // re-insert: newest last
    this.discovered.set(stateTopic, entity)
    this.stateTopicOf.delete(message.topic)
    this.stateTopicOf.set(message.topic, stateTopic)
    this.evict()
    return { candidates: [], rejections: [], skipped: 'discovery' }
  }

  private evict(): void {
    while (this.discovered.size > MAX_ENTITIES) {
      const oldest = this.discovered.keys().next().value as string
      this.discovered.delete(oldest)
    }
    while (this.stateTopicOf.size > MAX_ENTITIES) {
      const oldest = this.stateTopicOf.keys().next().value as string
      this.stateTopicOf.delete(oldest)
    }
  }

  private state(message: InboundMessage, prefix: string, objectId: string): DecodeResult {
    const deviceId = deviceIdFor(prefix)
    if (deviceId === undefined) {
      return reject(message, UNKNOWN_DEVICE, 'topic', RULES.schema, `'esphome-' + topic prefix must be a device id: 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric`, prefix)
    }
    if (message.retain === true) return { candidates: [], rejections: [], skipped: 'stale retained state' }
    const text = message.payload.toString('utf8')
    if (text === '') return { candidates: [], rejections: [], skipped: 'empty state' }

    const entity = this.entity(message.topic)
    if (entity === undefined) {
      return reject(message, deviceId, objectId, RULES.unit, 'no Home Assistant discovery config seen for this state topic: unit unknown', text)
    }
    if (entity.device_class === undefined) {
      return reject(message, deviceId, objectId, RULES.unknownQuantity, `entity '${objectId}' has no device class: quantity unknown`, text)
    }
    const quantity = DEVICE_CLASS_QUANTITIES[entity.device_class]
    if (quantity === undefined) {
      return { candidates: [], rejections: [], ignored: [{ deviceId, path: objectId, type: entity.device_class }] }
    }
    if (entity.unit === undefined) {
      return reject(message, deviceId, objectId, RULES.unit, `discovery config of '${objectId}' (${entity.device_class}) has no unit_of_measurement`, text)
    }
    const candidate: Candidate = {
      deviceId,
      quantity,
      value: text,
      unit: entity.unit,
      path: objectId,
      observedAt: message.receivedAt,
      timeSource: 'receipt',
      sourceFormat: ESPHOME_FORMAT,
    }
    return { candidates: [candidate], rejections: [] }
  }

  private status(message: InboundMessage, prefix: string): DecodeResult {
    const deviceId = deviceIdFor(prefix)
    if (deviceId === undefined) {
      return reject(message, UNKNOWN_DEVICE, 'topic', RULES.schema, `'esphome-' + topic prefix must be a device id: 1-100 chars of [A-Za-z0-9_.:-], starting alphanumeric`, prefix)
    }
    const text = message.payload.toString('utf8').trim()
    if (text === '') return { candidates: [], rejections: [], skipped: 'empty status' }
    if (text !== 'online' && text !== 'offline') {
      return reject(message, deviceId, 'status', RULES.schema, "status must be 'online' or 'offline'", text)
    }
    const event: DeviceEvent = {
      deviceId,
      kind: text,
      at: message.receivedAt,
      topic: message.topic,
      sourceFormat: ESPHOME_FORMAT,
      detail: JSON.stringify({ retained: message.retain === true }),
    }
    return { candidates: [], rejections: [], events: [event], skipped: 'availability' }
  }
}

/** A factory with static entities (see EsphomeOptions); each call makes a fresh, independent decoder. */
export function esphomeDecoderFactory(options: EsphomeOptions = {}): DecoderFactory {
  return () => new EsphomeDecoder(options)
}

/** The ESPHome decoder, discovery only (the table entry in core/decoders/index.ts). */
export const createEsphomeDecoder: DecoderFactory = esphomeDecoderFactory()

function deviceIdFor(prefix: string): string | undefined {
  const id = `esphome-${prefix}`
  return DeviceIdSchema.safeParse(id).success ? id : undefined
}

function reject(message: InboundMessage, deviceId: string, path: string, rule: string, text: string, value?: unknown): DecodeResult {
  return {
    candidates: [],
    rejections: [wholeMessageRejection(message, { deviceId, sourceFormat: ESPHOME_FORMAT, path, rule, message: text, value, observedAt: message.receivedAt })],
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** Home Assistant's `~` base topic: a leading or trailing `~` in a topic value is replaced by it. */
function expandBase(topic: string | undefined, base: string | undefined): string | undefined {
  if (topic === undefined || base === undefined) return topic
  if (topic.startsWith('~')) return base + topic.slice(1)
  if (topic.endsWith('~')) return topic.slice(0, -1) + base
  return topic
}
