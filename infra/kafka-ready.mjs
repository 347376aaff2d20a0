// Used by infra/up.sh: exits 0 once the Kafka broker on 127.0.0.1:$SENSHAGEN_KAFKA_PORT
// answers a metadata request (kafkajs admin.listTopics), exits 1 after the timeout.
// An open TCP port is not enough: KRaft opens the listener before the broker has
// caught up with the metadata log, and early requests then fail.
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const port = process.env.SENSHAGEN_KAFKA_PORT ?? '9092';
const timeoutMs = Number(process.argv[2] ?? 60) * 1000;
const kafka = new Kafka({
  clientId: 'senshagen-infra-ready',
  brokers: [`127.0.0.1:${port}`],
  logLevel: logLevel.NOTHING,
  retry: { retries: 0 },
  connectionTimeout: 2000,
});

const deadline = Date.now() + timeoutMs;
let lastError;
while (Date.now() < deadline) {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    await admin.disconnect();
    process.exit(0);
  } catch (err) {
    lastError = err;
    await admin.disconnect().catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
  }
}
console.error(`kafka on 127.0.0.1:${port} not ready after ${timeoutMs / 1000}s: ${lastError?.message}`);
process.exit(1);
