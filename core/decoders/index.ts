import { topicMatches } from '../topics.ts'
import type { Decoder, DecoderFactory, DecoderSettings } from './decoder.ts'
import { createNativeV1Decoder } from './native-v1.ts'
import { createTtnV3Decoder } from './ttn-v3.ts'
import { createTasmotaDecoder } from './tasmota.ts'
import { createEsphomeDecoder } from './esphome.ts'
import { createAirrohrDecoder } from './airrohr.ts'
import { createWeatherStationDecoder } from './weather-station.ts'
import { createOpenSenseMapDecoder } from './opensensemap.ts'
import { createMeetJeStadTtnV2Decoder } from './meetjestad.ts'

export { wholeMessageRejection, type Candidate, type DecodeResult, type Decoder, type DecoderFactory, type DecoderSettings, type InboundMessage } from './decoder.ts'

/**
 * The decoder table: every source format that arrives as a message (MQTT, or HTTP under `http/<format>`).
 * Adding a format is one file in this folder, one row here, and its fixture tests. File formats (the
 * sensor.community archive CSV and data-API JSON) are read by `senshagen replay` and arrive as native payloads.
 */
// Order matters where filters overlap: the first match wins, so ESPHome's broad `+/status` and
// `+/sensor/+/state` come after the formats with fixed topic roots.
export const DECODER_FACTORIES: readonly DecoderFactory[] = [createNativeV1Decoder, createTtnV3Decoder, createTasmotaDecoder, createMeetJeStadTtnV2Decoder, createEsphomeDecoder, createAirrohrDecoder, createWeatherStationDecoder,
  (settings) => createOpenSenseMapDecoder({ ...settings, sensors: settings.openSenseMapSensors })]

export const DEFAULT_DECODER_SETTINGS: DecoderSettings = { deviceTimeZone: 'Europe/Amsterdam' }

/** One instance of every decoder (decoders may keep state, so each ingest makes its own). */
export function createDecoders(settings: DecoderSettings = DEFAULT_DECODER_SETTINGS, factories = DECODER_FACTORIES): Decoder[] {
  return factories.map((create) => create(settings))
}

/** The decoder one of whose topic filters matches `topic`, or undefined. */
export function decoderForTopic(topic: string, decoders: readonly Decoder[]): Decoder | undefined {
  return decoders.find((decoder) => decoder.topicFilters.some((filter) => topicMatches(filter, topic)))
}
