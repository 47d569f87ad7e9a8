/**
 * Fuzz at the door, the full runs whose figures are in SECURITY.md: 100,000 HJ 212 cases into the receiver over TCP
 * (test/harness/fuzz-hj212.ts) and 100,000+ MQTT cases against the embedded broker with auth on and ingest writing to a
 * local InfluxDB (test/harness/fuzz-mqtt.ts). The tests run the same harnesses with fewer cases. Each part is bounded
 * by a case count and a time limit, whichever comes first, and prints what it did: cases, seconds, every counter by
 * reason, whether the counters add up, and RSS. Run: node bin/run-ts.js bench/fuzz.ts [--part hj212|mqtt|both]
 */
import { parseArgs } from 'node:util';
import { runHj212Fuzz } from '../test/harness/fuzz-hj212.ts';
import { runMqttFuzz } from '../test/harness/fuzz-mqtt.ts';
import { startInfluxd } from '../test/harness/influxd.ts';
import { positive } from './peers/flags.ts';

const HELP = `usage: node bin/run-ts.js bench/fuzz.ts [options]

Fuzzes the HJ 212 receiver (over TCP) and the embedded MQTT broker + ingest + InfluxDB, and prints the figures.

options:
  --part P         hj212 | mqtt | both (default both)
  --cases N        cases per part (default 100000)
  --max-seconds S  stop a part after S seconds even if it has not run all its cases (default 115)
  --seed N         seed (default 1); the same seed sends the same cases
  --connections N  HJ 212 connections open at once (default 32)
  --help           this text`;


const { values } = parseArgs({
  options: {
    part: { type: 'string', default: 'both' },
    cases: { type: 'string' },
    'max-seconds': { type: 'string' },
    seed: { type: 'string' },
    connections: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (!['hj212', 'mqtt', 'both'].includes(values.part ?? '')) {
  console.error(`--part must be hj212, mqtt or both, got ${JSON.stringify(values.part)}`);
  process.exit(2);
}
const cases = Math.floor(positive('cases', values.cases, 100_000));
const maxMs = positive('max-seconds', values['max-seconds'], 115) * 1000;
const seed = Math.floor(positive('seed', values.seed, 1));
const connections = Math.floor(positive('connections', values.connections, 32));
const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);
const sorted = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

if (values.part !== 'mqtt') {
  const run = await runHj212Fuzz({ seed, cases, maxMs, concurrency: connections, clientsInChildProcess: true });
  const s = run.receiver;
  const refused = sum(s.refused);
  console.log(`HJ 212 receiver over TCP, seed ${seed}: ${run.cases} cases (one connection each) in ${run.seconds.toFixed(1)} s, ${(run.bytesSent / 1e6).toFixed(1)} MB`);
  console.log(`  cases by mutation: ${sorted(run.byMutation)}`);
  console.log(`  accepted ${s.packets} (by version: ${sorted(s.packetsByVersion)}), ${run.readings} readings`);
  console.log(`  refused ${refused}: ${sorted(s.refused)}`);
  console.log(`  accepted + refused = ${s.packets + refused}; frames and discarded runs in the bytes sent = ${run.expectedUnits}: ${s.packets + refused === run.expectedUnits ? 'every one counted' : 'MISMATCH'}`);
  console.log(`  data refused after acceptance: ${sorted(s.refusedData) || 'none'}; connections closed by the receiver: ${sorted(s.closedConnections) || 'none'}`);
  console.log(`  internal errors: ${run.internalErrors.length === 0 ? 'none' : run.internalErrors.join(' | ')}`);
  console.log(`  RSS of the receiver (senders in a child process) start ${run.rssStartMb} MB, peak ${run.rssPeakMb} MB, end ${run.rssEndMb} MB; every 10 s: ${run.rssTimelineMb.join(' ')}`);
}

if (values.part !== 'hj212') {
  const influx = await startInfluxd();
  try {
    const registryFile = new URL('../deploy/demo/plants.yaml', import.meta.url).pathname;
    const run = await runMqttFuzz({ seed, cases, maxMs, influxUrl: influx.url, database: 'fuzz', registryFile, clientsInChildProcess: true });
    const i = run.ingest;
    const expected = sum(run.expectedRejected);
    const same = (a: Record<string, number>, b: Record<string, number>): boolean => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
    console.log(`MQTT broker (auth on) + ingest + InfluxDB, seed ${seed}: ${run.cases} cases in ${run.seconds.toFixed(1)} s (${run.reconnects} session reconnects)`);
    console.log(`  cases by kind: ${sorted(run.byKind)}`);
    console.log(`  broker refused: ${sorted(run.brokerDenied)}`);
    console.log(`  acknowledged by the broker on readings topics: ${run.deliveredToIngest}; received by ingest: ${i.receivedMessages}`);
    console.log(`  ingest rejected ${i.rejectedMessages}: ${sorted(i.rejected)}`);
    console.log(`  predicted by validateMessage: ${expected}: ${same(i.rejected, run.expectedRejected) ? 'same, reason by reason' : `DIFFERENT: ${sorted(run.expectedRejected)}`}`);
    console.log(`  dead letters seen on the broker: ${sum(run.deadLettersSeen)}: ${same(run.deadLettersSeen, run.expectedRejected) ? 'same, reason by reason' : `DIFFERENT: ${sorted(run.deadLettersSeen)}`}`);
    console.log(`  readings written ${i.writtenReadings + i.spooledReadings} of ${run.expectedAcceptedReadings} accepted; valid batches ${run.validBatches} (${run.validReadings} readings)`);
    console.log(`  RSS of broker + ingest (senders in a child process) start ${run.rssStartMb} MB, peak ${run.rssPeakMb} MB, end ${run.rssEndMb} MB; every 10 s: ${run.rssTimelineMb.join(' ')}`);
  } finally {
    await influx.stop();
  }
}
