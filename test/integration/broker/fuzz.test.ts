/**
 * MQTT fuzz at the door: raw, random and mutated MQTT 3.1.1 packets on raw TCP sockets against the embedded broker
 * with users and ACLs on, and the real ingest behind it writing to a real InfluxDB (test/harness/fuzz-mqtt.ts says
 * what is sent). What users rely on: neither the broker nor ingest crashes or grows, every message that passed the
 * broker's ACL reaches ingest and is either written or dead-lettered with a counted reason (the reasons predicted
 * one by one with ingest's own validator), and the valid readings are in InfluxDB. Seeded (FUZZ_SEED overrides);
 * `node bin/run-ts.js bench/fuzz.ts` runs 100,000+ cases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMqttFuzz } from '../../harness/fuzz-mqtt.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 1883);
const CASES = 8_000;
const DB = 'mqtt_fuzz';

describe('MQTT fuzz against the embedded broker (auth on) and ingest', () => {
  let influx: RunningInflux;
  beforeAll(async () => {
    influx = await startInfluxd();
  });
  afterAll(async () => {
    await influx?.stop();
  });

  it(`survives ${CASES} random and mutated packets, and ingest accounts for every message that passed the ACL (seed ${SEED})`, async () => {
    const registryFile = new URL('../../../deploy/demo/plants.yaml', import.meta.url).pathname;
    const run = await runMqttFuzz({ seed: SEED, cases: CASES, influxUrl: influx.url, database: DB, registryFile });
    const where = `seed ${SEED}: ${JSON.stringify({ byKind: run.byKind, ingest: run.ingest, deadLettersSeen: run.deadLettersSeen })}`;
    expect(run.cases, where).toBe(CASES);
    // Each kind of abuse was tried and the broker's ACL said no to some of it.
    expect(run.byKind['one-shot bad remaining length'], where).toBeGreaterThan(0);
    expect(run.byKind['publish deep'], where).toBeGreaterThan(0);
    expect(run.brokerDenied.authentication, where).toBeGreaterThan(0);
    expect(run.brokerDenied.subscribe, where).toBeGreaterThan(0);
    // Every message the broker acknowledged on a readings topic reached ingest, nothing else did.
    expect(run.ingest.receivedMessages, where).toBe(run.deliveredToIngest);
    expect(run.deliveredToIngest, where).toBeGreaterThan(CASES / 4);
    // Every rejection is counted under the reason ingest's validator gives, and dead-lettered on the broker.
    expect(run.ingest.rejected, where).toEqual(run.expectedRejected);
    expect(run.deadLettersSeen, where).toEqual(run.expectedRejected);
    expect(run.ingest.writtenReadings + run.ingest.spooledReadings, where).toBe(run.expectedAcceptedReadings);
    expect(run.ingest.unackedMessages).toBe(0);
    // The valid ones are stored: one point per accepted reading (each at a time of its own).
    const [row] = await influx.query<{ count: number }>(`SELECT count(cod_quality) FROM water WHERE plant = 'paper-01' AND meter = 'outfall-1-cod'`, DB);
    expect(row?.count, where).toBeGreaterThanOrEqual(run.validReadings);
    expect(row?.count, where).toBeLessThanOrEqual(run.expectedAcceptedReadings);
    // Memory: broker, ingest and the fuzz clients share this process.
    expect(run.rssPeakMb - run.rssStartMb, `RSS ${run.rssStartMb} -> ${run.rssPeakMb} MB`).toBeLessThan(250);
  });
});
