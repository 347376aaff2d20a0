import { STATUS_FILTER, READINGS_FILTER, readingsTopic, statusTopic, topicMatches } from '../topics.ts'
import type { DeviceRecord, ServiceRole } from './store.ts'

/**
 * Which MQTT topics an account may use: the one place the broker (services/broker/auth.ts) and the generated
 * Mosquitto ACL (core/registry/mosquitto.ts) take their rules from. Deny by default: a topic no filter below
 * covers is refused.
 *
 * - A **device** publishes only on its own topics, derived from its format and native identity (the topics
 *   its firmware uses, README "Device formats"), and retains only its own status.
 * - **ingest** subscribes to device topics; it publishes nothing.
 * - **importer** (`senshagen replay`, `senshagen sim`) publishes native payloads and status, but only for
 *   devices that are registered and not revoked (`registeredDevicesOnly`: checked per topic by the broker).
 * - **operator** reads every device topic (live debugging); it publishes nothing.
 * - Nobody subscribes to `$SYS` (client ids and connection events of every device).
 */
export interface TopicRights {
  /** Topic filters the account may publish on. */
  publish: string[]
  /** Topic filters the account may publish on with the retain flag (a subset of publish). */
  retain: string[]
  /** Topic filters the account may subscribe to: a requested filter must be covered by one of these. */
  subscribe: string[]
  /** True for the importer: a publish is allowed only when the topic's device is registered and active. */
  registeredDevicesOnly?: boolean
}

/** The topics of a device's own firmware, from its format and native identity. */
export function deviceRights(device: Pick<DeviceRecord, 'id' | 'format' | 'nativeId'>): TopicRights {
  const own = [readingsTopic(device.id), statusTopic(device.id)]
  const rights: TopicRights = { publish: [...own], retain: [statusTopic(device.id)], subscribe: [] }
  const n = device.nativeId
  switch (device.format) {
    case 'tasmota': // Tasmota: tele/<topic>/SENSOR|STATE|LWT, stat/<topic>/…; commands on cmnd/<topic>/ and the group topic
      rights.publish.push(`tele/${n}/+`, `stat/${n}/+`)
      // the LWT always; SENSOR, STATE, STATUS… when SensorRetain/StateRetain/StatusRetain are on (Tasmota docs, Commands)
      rights.retain.push(`tele/${n}/+`, `stat/${n}/+`)
      rights.subscribe.push(`cmnd/${n}/#`, 'cmnd/tasmotas/#')
      break
    case 'esphome': // ESPHome: <node>/… (states are retained by default), Home Assistant discovery, birth message
      rights.publish.push(`${n}/#`, `homeassistant/+/${n}/+/config`)
      rights.retain.push(`${n}/#`, `homeassistant/+/${n}/+/config`)
      rights.subscribe.push(`${n}/#`, 'homeassistant/status')
      break
    case 'ttn': { // The Things Stack v3 uplinks: v3/<app>@<tenant>/devices/<dev>/<event>
      const [app, dev] = splitTtn(n)
      rights.publish.push(`v3/${app}@+/devices/${dev}/+`, `v3/${app}@+/devices/${dev}/+/+`)
      break
    }
    case 'meetjestad': // legacy TTN v2: <app>/devices/<dev>/up
      rights.publish.push(`+/devices/${n}/up`)
      break
    default: // native, HTTP formats (airrohr, openSenseMap, WOW, WU, Ecowitt), sensor.community: the native topics only
      break
  }
  return rights
}

/** The rights of a service account; `deviceFilters` are the ingest's subscriptions (every decoder's MQTT topics). */
export function serviceRights(role: ServiceRole): TopicRights {
  switch (role) {
    case 'ingest':
      return { publish: [], retain: [], subscribe: ['#'] }
    case 'importer':
      return { publish: [READINGS_FILTER, STATUS_FILTER], retain: [STATUS_FILTER], subscribe: [], registeredDevicesOnly: true }
    case 'operator':
      return { publish: [], retain: [], subscribe: ['#'] }
  }
}

/** `app/dev` → [app, dev] (TTN application and device ids never contain `/`). */
function splitTtn(nativeId: string): [string, string] {
  const slash = nativeId.indexOf('/')
  return slash < 0 ? [nativeId, '+'] : [nativeId.slice(0, slash), nativeId.slice(slash + 1)]
}

/** True when `topic` may be published (and retained, when `retain`) under `rights`. `$` topics never. */
export function mayPublish(rights: TopicRights, topic: string, retain: boolean): boolean {
  if (topic.startsWith('$')) return false
  const list = retain ? rights.retain : rights.publish
  return list.some((filter) => topicMatches(filter, topic))
}

/**
 * True when every topic the requested filter can match is covered by an allowed filter, so a subscription
 * can never receive more than the rights give (`#` is refused to a device whose rights are `tele/shed/+`).
 * Filters starting with `$` (`$SYS/#`) are refused to everyone [MQTT-4.7.2-1 keeps them out of `#`].
 */
export function maySubscribe(rights: TopicRights, filter: string): boolean {
  if (filter.startsWith('$')) return false
  return rights.subscribe.some((allowed) => filterCovers(allowed, filter))
}

/** True when every topic matched by `requested` is also matched by `allowed` (MQTT 3.1.1 §4.7 wildcards). */
export function filterCovers(allowed: string, requested: string): boolean {
  const a = allowed.split('/')
  const r = requested.split('/')
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '#') return true
    if (i >= r.length) return false
    if (r[i] === '#') return false
    if (a[i] === '+') continue
    if (r[i] === '+' || a[i] !== r[i]) return false
  }
  return a.length === r.length
}

/** The device a native topic (`senshagen/v1/devices/<id>/readings|status`) belongs to, or undefined. */
export function nativeTopicDevice(topic: string): string | undefined {
  const levels = topic.split('/')
  if (levels.length !== 5 || levels[0] !== 'senshagen' || levels[1] !== 'v1' || levels[2] !== 'devices') return undefined
  return levels[4] === 'readings' || levels[4] === 'status' ? levels[3] : undefined
}
