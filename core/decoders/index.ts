import { topicMatches } from '../topics.ts'
import type { Decoder } from './decoder.ts'
import { nativeV1Decoder } from './native-v1.ts'

export { wholeMessageRejection, type Candidate, type DecodeResult, type Decoder, type InboundMessage } from './decoder.ts'

/**
 * The decoder table: every MQTT source format, looked up by topic. Adding a format is one file in this
 * folder, one row here, and its fixture tests. File formats (the sensor.community archive, sc-archive.ts)
 * are read by `senshagen replay` and arrive here as native payloads.
 */
export const DECODERS: readonly Decoder[] = [nativeV1Decoder]

/** The decoder whose topic filter matches `topic`, or undefined. */
export function decoderForTopic(topic: string, decoders: readonly Decoder[] = DECODERS): Decoder | undefined {
  return decoders.find((decoder) => topicMatches(decoder.topicFilter, topic))
}
