/**
 * The HJ 212 receiver under fuzz over real TCP: random bytes and mutated frames (bad CRC, wrong lengths, cuts, huge
 * CPs and numbers, impossible dates, odd encodings) from many connections. What users rely on: the gateway does not
 * crash or grow, every frame is either accepted or refused with a counted reason, and valid uploads of every HJ 212
 * version still give their readings. Seeded (FUZZ_SEED overrides); `node bin/run-ts.js bench/fuzz.ts` runs 100,000.
 */
import { describe, expect, it } from 'vitest';
import { runHj212Fuzz } from '../../harness/fuzz-hj212.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 2121);
const CASES = 10_000;

describe('HJ 212 receiver fuzz over TCP', () => {
  it(`accounts for every one of ${CASES} random and mutated frames, each refusal by reason, without crashing or growing (seed ${SEED})`, async () => {
    const run = await runHj212Fuzz({ seed: SEED, cases: CASES });
    const where = `seed ${SEED}: ${JSON.stringify(run.receiver)}`;
    expect(run.cases, where).toBe(CASES);
    // Nothing reached the handler's bug path.
    expect(run.receiver.closedConnections.internal_error, where).toBeUndefined();
    expect(run.receiver.refused.internal_error, where).toBeUndefined();
    // Every frame and discarded run of bytes is counted once: accepted, or refused by reason.
    const refused = Object.values(run.receiver.refused).reduce((a, b) => a + b, 0);
    expect(run.receiver.packets + refused, where).toBe(run.expectedUnits);
    expect(Object.keys(run.receiver.refused).sort(), where).toEqual(expect.arrayContaining(['bad_field', 'bad_header', 'bad_tail', 'crc_mismatch', 'length_mismatch', 'too_long']));
    // Valid uploads of each version were read as their Flag says.
    const byVersion = run.receiver.packetsByVersion;
    expect(Object.values(byVersion).reduce((a, b) => a + b, 0), where).toBe(run.receiver.packets);
    for (const version of ['2005', '2017', '2025']) expect(byVersion[version] ?? 0, `${version}: ${where}`).toBeGreaterThan(run.byMutation.valid! / 6);
    expect(run.readings).toBeGreaterThan(0);
    // Memory: a receiver holds at most a frame, split parts and an answer backlog per open connection (32 here).
    expect(run.rssPeakMb - run.rssStartMb, `RSS ${run.rssStartMb} -> ${run.rssPeakMb} MB`).toBeLessThan(150);
  });
});
