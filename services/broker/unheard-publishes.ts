import type { Aedes, PublishPacket, Subscription } from 'aedes'
import { topicMatches } from '../../core/topics.ts'

/** aedes.publish as its handlers call it (lib/handlers/publish.js): the typings show only (packet, callback). */
type Publish = (packet: PublishPacket, client: unknown, done?: (error?: Error) => void) => void

/**
 * Skips aedes' delivery of a publish that no subscription can match. aedes runs every publish through its
 * delivery steps (aedes.js `publishFuncsQoS`: storeRetained, enqueueOffline, emitPacket, callPublished), about
 * 11–14 µs of CPU and a handful of objects and promises per message even with no subscriber at all (measured
 * on this machine: docs/benchmarks.md, 2 December 2026, session 18); in direct mode the devices' readings
 * usually have no subscriber, and they are stored before the PUBACK (broker-ingest.ts), not by this delivery.
 *
 * A publish is skipped (its callback runs at once, as aedes' would) only when all of these hold:
 * - its topic does not start with `$` (aedes' own `$SYS` traffic always goes through);
 * - it is not retained (a retained message must be kept for later subscribers [MQTT-3.3.1-5]);
 * - nothing listens to aedes' `publish` event;
 * - no filter granted so far in this process (aedes' `subscribe` event, emitted with the SUBACK) matches it.
 *
 * Granted filters are never forgotten here (an unsubscribe or a clean session's end does not remove them), so a
 * filter that may still live in a persistent session's offline queue keeps its topics delivered: the check can
 * only err towards delivering. A subscription becomes visible here when its SUBACK goes out; a publish handled
 * between aedes adding the subscription and that SUBACK may not reach it, which MQTT allows (a message is owed
 * to a subscription once acknowledged [MQTT-3.8.4-3]). Subscriptions made with `aedes.subscribe()` directly
 * (not a client's SUBSCRIBE) are not seen: SensHagen makes none outside aedes' own `$SYS` ones.
 * Answers are remembered per topic until the next new filter. Returns the number of publishes skipped so far.
 */
export function skipUnheardPublishes(aedes: Aedes): { readonly skipped: number } {
  const filters = new Set<string>()
  let heard = new Map<string, boolean>()
  const counts = { skipped: 0 }
  aedes.on('subscribe', (subscriptions: Subscription[]) => {
    for (const { topic } of subscriptions) {
      if (filters.has(topic)) continue
      filters.add(topic)
      heard = new Map()
    }
  })
  const isHeard = (topic: string): boolean => {
    let answer = heard.get(topic)
    if (answer === undefined) {
      answer = false
      for (const filter of filters) {
        if (topicMatches(filter, topic)) {
          answer = true
          break
        }
      }
      if (heard.size < 100_000) heard.set(topic, answer)
    }
    return answer
  }
  const target = aedes as unknown as { publish: Publish }
  const publish = target.publish.bind(aedes)
  target.publish = (packet, client, done) => {
    const deliver = typeof client === 'function' || packet.retain || packet.topic.charCodeAt(0) === 36 /* $ */ || aedes.listenerCount('publish') > 0 || isHeard(packet.topic)
    if (deliver) return publish(packet, client, done)
    counts.skipped++
    done?.()
  }
  return counts
}
