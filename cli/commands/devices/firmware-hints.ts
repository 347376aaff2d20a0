import type { Config } from '../../../core/config.ts'
import type { DeviceFormat, DeviceRecord } from '../../../core/registry/store.ts'
import { readingsTopic } from '../../../core/topics.ts'

/**
 * One line that tells the operator where a device's firmware takes its credentials (README "Device formats"
 * and "Security"): the MQTT username and the secret as password for MQTT firmware, each HTTP firmware's own
 * mechanism for the HTTP ingest (services/ingest/http-auth.ts). `<secret>` stands for the secret printed above it;
 * the hint never holds it.
 */
export function firmwareHint(device: Pick<DeviceRecord, 'id' | 'format' | 'nativeId'>, config: Pick<Config, 'broker' | 'http'>): string {
  const mqtt = `MQTT port ${config.broker.port}, user ${device.id}, password <secret>`
  const http = `HTTP ingest port ${config.http.port}`
  const n = device.nativeId
  const hints: Record<DeviceFormat, string> = {
    native: `${mqtt}; publish to ${readingsTopic(device.id)}`,
    tasmota: `Tasmota Configuration > MQTT: ${mqtt.replace('MQTT port', 'port')}, Topic ${n}`,
    esphome: `ESPHome YAML mqtt: port ${config.broker.port}, username ${device.id}, password <secret>, topic_prefix ${n}`,
    ttn: `a TTN v3 bridge logs in with ${mqtt} and publishes v3/${n.replace('/', '@<tenant>/devices/')}/up`,
    meetjestad: `a Meet je Stad (TTN v2) bridge logs in with ${mqtt} and publishes <app>/devices/${n}/up`,
    airrohr: `airrohr Configuration > APIs > Send to own API: ${http}, path /data.php, user ${device.id}, password <secret>`,
    opensensemap: `openSenseMap upload to ${http}, POST /boxes/${n}/data with header Authorization: <secret>`,
    wow: `WOW upload to ${http}, GET /automaticreading?siteid=${n}&siteAuthenticationKey=<secret>`,
    wu: `Weather Underground upload to ${http}, GET /weatherstation/updateweatherstation.php?ID=${n}&PASSWORD=<secret>`,
    ecowitt: `Ecowitt Customized upload (protocol Ecowitt) to ${http}, Path /data/report/${device.id}/<secret>`,
    'sensor.community': `archive files arrive through 'senshagen replay' (importer account); a live push uses ${mqtt} and ${readingsTopic(device.id)}`,
  }
  return hints[device.format]
}
