// Smoke check: does kafkajs 2.2.4 (our client, unmaintained since 2023) work against
// the broker started by infra/up.sh? Run: node infra/kafka-smoke.mjs
// Exits non-zero on the first failed check. Cleans up its topic and group.
//
// Checks: admin createTopics / listTopics / fetchTopicOffsets, produce with acks=-1
// (plain, GZIP and idempotent producer), consumer group with eachBatch + manual
// commitOffsets, and that a restarted consumer resumes at the committed offsets.
import kafkajs from 'kafkajs';

const { Kafka, logLevel, CompressionTypes } = kafkajs;
const port = process.env.SENSHAGEN_KAFKA_PORT ?? '9092';
const run = `${Date.now()}-${process.pid}`;
const topic = `senshagen-smoke-${run}`;
const groupId = `senshagen-smoke-${run}`;
const PARTITIONS = 3;

const kafka = new Kafka({
  clientId: 'senshagen-kafka-smoke',
  brokers: [`127.0.0.1:${port}`],
  logLevel: logLevel.ERROR,
});

const ok = (msg) => console.log(`  ok  ${msg}`);
function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
  ok(msg);
}
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms))]);

const msgs = (from, n) =>
  Array.from({ length: n }, (_, i) => ({ key: `station-${(from + i) % 7}`, value: JSON.stringify({ seq: from + i }) }));

// Consume with a fresh consumer in `groupId` until `expected` messages arrived,
// committing each batch by hand; returns the seq numbers seen.
async function consume(expected, label) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
  const seen = [];
  let done;
  const finished = new Promise((r) => (done = r));
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
      for (const m of batch.messages) {
        seen.push(JSON.parse(m.value.toString()).seq);
        resolveOffset(m.offset);
      }
      const next = (BigInt(batch.lastOffset()) + 1n).toString();
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
      await heartbeat();
      if (seen.length >= expected) done();
    },
  });
  await withTimeout(finished, 30000, `${label}: waiting for ${expected} messages (got ${seen.length})`);
  // a short grace period so that any unexpected (re-delivered) message shows up too
  await new Promise((r) => setTimeout(r, 1000));
  await consumer.disconnect();
  return seen;
}

async function main() {
  console.log(`kafka smoke check against 127.0.0.1:${port} (kafkajs)`);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    check(cluster.brokers.length === 1, `describeCluster: ${cluster.brokers.length} broker, controller ${cluster.controller}`);

    const created = await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
    check(created, `createTopics ${topic} (${PARTITIONS} partitions)`);
    check((await admin.listTopics()).includes(topic), 'listTopics contains the new topic');

    // acks=-1 is kafkajs' default, spelled out because the pipeline depends on it.
    const producer = kafka.producer();
    await producer.connect();
    const r1 = await producer.send({ topic, acks: -1, messages: msgs(0, 10) });
    const r2 = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: msgs(10, 5) });
    await producer.disconnect();
    check(r1.concat(r2).every((r) => r.errorCode === 0), 'produce 15 messages with acks=-1 (10 plain + 5 GZIP)');

    const idem = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await idem.connect();
    await idem.send({ topic, acks: -1, messages: msgs(15, 5) });
    await idem.disconnect();
    ok('produce 5 messages with an idempotent producer (InitProducerId)');

    const offsets = await admin.fetchTopicOffsets(topic);
    const total = offsets.reduce((s, p) => s + Number(p.high), 0);
    check(total === 20, `fetchTopicOffsets: high watermarks add up to 20 over ${offsets.length} partitions`);

    const first = await consume(20, 'first consumer');
    check(first.length === 20 && new Set(first).size === 20, 'consumer group (eachBatch, manual commitOffsets) got all 20 messages once');

    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    const sum = committed[0].partitions.reduce((s, p) => s + Number(p.offset), 0);
    check(sum === 20, `admin.fetchOffsets: committed offsets add up to 20`);

    // Restart: new messages only; fromBeginning must not win over committed offsets.
    const p2 = kafka.producer();
    await p2.connect();
    await p2.send({ topic, acks: -1, messages: msgs(100, 6) });
    await p2.disconnect();
    const second = await consume(6, 'restarted consumer');
    check(
      second.length === 6 && second.every((s) => s >= 100),
      `restarted consumer resumed at committed offsets (got ${second.length} new, ${second.filter((s) => s < 100).length} old)`,
    );

    await admin.deleteGroups([groupId]);
    await admin.deleteTopics({ topics: [topic] });
    ok('cleanup: deleteGroups, deleteTopics');
  } finally {
    await admin.disconnect();
  }
  console.log('kafka smoke check passed');
}

withTimeout(main(), 120000, 'whole smoke check')
  .then(() => process.exit(0))
  .catch((err) => {
    console.error(`kafka smoke check FAILED: ${err.stack ?? err}`);
    process.exit(1);
  });
