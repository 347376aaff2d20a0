/**
 * The MQTT topic scheme under `senshagen/` (README "Topic scheme" documents the same).
 *
 * | topic                                   | payload                 | QoS  | retained |
 * |-----------------------------------------|-------------------------|------|----------|
 * | `senshagen/v1/devices/{device}/readings`| native payload v1 JSON  | 0, 1 | no       |
 * | `senshagen/v1/devices/{device}/status`  | `online` / `offline`    | 1    | yes (device's will message) |
 *
 * `{device}` is a DeviceId (core/reading.ts), so it never contains `/`, `+` or `#` [MQTT-4.7.1].
 */
export const TOPIC_ROOT = 'senshagen/v1'

export function readingsTopic(deviceId: string): string {
  return `${TOPIC_ROOT}/devices/${deviceId}/readings`
}

export function statusTopic(deviceId: string): string {
  return `${TOPIC_ROOT}/devices/${deviceId}/status`
}

/** Subscription filter the ingest uses for native payloads. */
export const READINGS_FILTER = `${TOPIC_ROOT}/devices/+/readings`
/** Subscription filter for device availability (`online`/`offline`, retained, the device's will). */
export const STATUS_FILTER = `${TOPIC_ROOT}/devices/+/status`

/** Device id from a readings topic, or undefined when the topic is not one. */
export function deviceFromReadingsTopic(topic: string): string | undefined {
  const levels = topic.split('/')
  if (levels.length !== 5 || `${levels[0]}/${levels[1]}` !== TOPIC_ROOT || levels[2] !== 'devices' || levels[4] !== 'readings') {
    return undefined
  }
  return levels[3]
}

/** True when `topic` matches the MQTT topic filter `filter` (`+` one level, `#` the rest) [MQTT-4.7.1]. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false
  }
  return f.length === t.length
}

/**
 * `find` remembered per topic, for answers that depend on the topic alone (which decoder, whether the ingest
 * handles it): the filters are matched once per topic instead of once per message. At most `max` topics are
 * kept; past the bound new topics are answered without being kept. Topics come from authorized publishers
 * (and the HTTP ingest's fixed routes), so the bound is rarely reached.
 */
export function memoByTopic<T>(find: (topic: string) => T, max = 100_000): (topic: string) => T {
  const known = new Map<string, T>()
  return (topic) => {
    if (known.has(topic)) return known.get(topic)!
    const found = find(topic)
    if (known.size < max) known.set(topic, found)
    return found
  }
}
