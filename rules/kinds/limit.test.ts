import { describe, expect, it } from 'vitest';
import { harness, MIN, series, T0 } from '../test-support.ts';

const codLimit = (extra: Record<string, unknown> = {}) => ({ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog', ...extra });

describe('limit rule', () => {
  it('raises at the first reading above the catalog limit (GB 3544-2008, integrated mill: COD 90) and clears back under it', () => {
    const h = harness([codLimit()]);
    expect(h.feed(series(T0, MIN, [80, 95, 96, 88]))).toEqual([`raised cod-limit outfall-1-cod 95@${T0 + MIN} limit=90`, `cleared cod-limit outfall-1-cod 88@${T0 + 3 * MIN}`]);
    const [raised] = h.transitions;
    expect(raised!.alert).toMatchObject({ plant: 'paper-01', quantity: 'cod', severity: 'major', state: 'raised', count: 1 });
    expect(raised!.alert.message.en).toContain('GB 3544-2008');
    expect(raised!.alert.message.zh).toContain('化学需氧量');
  });

  it('does not flap on a signal hovering at the limit: raise above 90, clear only below 85', () => {
    const h = harness([codLimit({ limit: { max: 90 }, clear: { below: 85 } })]);
    const hovering = [89, 91, 89.5, 90.5, 89, 91.2, 88, 86];
    const out = h.feed(series(T0, MIN, hovering));
    expect(out.filter((l) => l.startsWith('raised'))).toHaveLength(1);
    expect(out.filter((l) => l.startsWith('cleared'))).toHaveLength(0);
    // re-triggers while open update the one alert (count, last value) instead of raising another
    expect(out.filter((l) => l.startsWith('updated'))).toEqual([`updated cod-limit outfall-1-cod 90.5@${T0 + 3 * MIN} limit=90`, `updated cod-limit outfall-1-cod 91.2@${T0 + 5 * MIN} limit=90`]);
    expect(h.engine.openAlerts()[0]).toMatchObject({ count: 3, value: 91.2 });
    expect(h.feed([{ ts: T0 + 9 * MIN, v: 84.9 }])).toEqual([`cleared cod-limit outfall-1-cod 84.9@${T0 + 9 * MIN}`]);
  });

  it('judges a range (pH 6-9) on both sides, with an absolute deadband for clearing', () => {
    const h = harness([{ id: 'ph-range', kind: 'limit', severity: 'minor', selector: { quantity: 'ph' }, limit: 'catalog', clear: { deadband: 0.2 } }], {
      defaults: { meter: 'outfall-1-ph', quantity: 'ph', unit: 'pH' },
    });
    expect(h.feed(series(T0, MIN, [7, 5.5, 6.1, 6.5, 9.4, 8.9, 8.7]))).toEqual([
      `raised ph-range outfall-1-ph 5.5@${T0 + MIN} limit=6`,
      `cleared ph-range outfall-1-ph 6.5@${T0 + 3 * MIN}`,
      `raised ph-range outfall-1-ph 9.4@${T0 + 4 * MIN} limit=9`,
      `cleared ph-range outfall-1-ph 8.7@${T0 + 6 * MIN}`,
    ]);
  });

  it('converts non-canonical units before judging (95,000 ug/L is 95 mg/L)', () => {
    const h = harness([codLimit()]);
    expect(h.feed([{ ts: T0, v: 95_000, unit: 'ug/L' }])).toEqual([`raised cod-limit outfall-1-cod 95@${T0} limit=90`]);
  });

  it('ignores readings without a value or with bad quality', () => {
    const h = harness([codLimit()]);
    expect(h.feed([{ ts: T0, v: null }, { ts: T0 + MIN, v: 500, q: 'bad' }])).toEqual([]);
  });

  it('takes the limit in force at the reading time: before GB 3544-2008 Table 2 the GB 8978-1996 fallback (100) applies', () => {
    const before = Date.UTC(2008, 0, 1);
    const h = harness([codLimit()], { startAt: before });
    expect(h.feed([{ ts: before, v: 95 }, { ts: Date.UTC(2009, 0, 1), v: 95.5 }])).toEqual([`raised cod-limit outfall-1-cod 95.5@${Date.UTC(2009, 0, 1)} limit=90`]);
  });

  it('judges flue gas on hourly means: one high reading does not raise, a high hour does (raised at the hour end)', () => {
    const h = harness(
      [{ id: 'nox-hourly', kind: 'limit', severity: 'major', selector: { quantity: 'nox' }, limit: { catalog: { standard: 'GB 13223-2011' } }, averaging: { meanOverMs: 60 * MIN } }],
      { defaults: { meter: 'stack-1-cems', quantity: 'nox', unit: 'mg/m3' } },
    );
    const hour1 = series(T0, 10 * MIN, [50, 50, 300, 50, 50, 50]); // mean 91.7: under 100
    const hour2 = series(T0 + 60 * MIN, 10 * MIN, [120, 120, 120, 120, 120, 120]);
    const hour3 = series(T0 + 120 * MIN, 10 * MIN, [60]);
    expect(h.feed([...hour1, ...hour2])).toEqual([]);
    expect(h.feed(hour3)).toEqual([`raised nox-hourly stack-1-cems 120@${T0 + 120 * MIN} limit=100`]);
    expect(h.feed(series(T0 + 130 * MIN, 10 * MIN, [60, 60, 60, 60, 60, 60]))).toEqual([`cleared nox-hourly stack-1-cems 60@${T0 + 180 * MIN}`]);
  });

  it('orders out-of-order readings within the allowed lateness by event time before judging', () => {
    const h = harness([codLimit()], { allowedLatenessMs: 2 * MIN });
    // arrival order: 0 (80), 30 s (95), 20 s (70), then 5 min (80). Event order: 80, 70, 95 (raise), 80 (clear).
    const out = h.feed([
      { ts: T0, v: 80 },
      { ts: T0 + 30_000, v: 95 },
      { ts: T0 + 20_000, v: 70 },
      { ts: T0 + 5 * MIN, v: 80 },
      { ts: T0 + 8 * MIN, v: 80 },
    ]);
    expect(out).toEqual([`raised cod-limit outfall-1-cod 95@${T0 + 30_000} limit=90`, `cleared cod-limit outfall-1-cod 80@${T0 + 5 * MIN}`]);
  });

  it('counts and reports late readings (older than the watermark) instead of dropping them silently', () => {
    const h = harness([codLimit()], { allowedLatenessMs: MIN });
    const out = h.feed([
      { ts: T0, v: 80 },
      { ts: T0 + 10 * MIN, v: 80 },
      { ts: T0 + 5 * MIN, v: 500 },
    ]);
    expect(out).toEqual([]);
    expect(h.engine.stats()).toMatchObject({ late: 1, lateByRule: { 'cod-limit': 1 } });
    expect(h.late).toEqual([{ plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', ts: T0 + 5 * MIN, watermark: T0 + 9 * MIN, rules: ['cod-limit'] }]);
  });

  it('releases buffered readings of a quiet series after idleFlushMs of processing time', () => {
    const h = harness([codLimit()], { allowedLatenessMs: 10 * MIN, idleFlushMs: 30_000 });
    expect(h.feed([{ ts: T0, v: 95, now: T0 }])).toEqual([]);
    expect(h.feed([{ tick: T0 + 10_000 }])).toEqual([]);
    expect(h.feed([{ tick: T0 + 30_000 }])).toEqual([`raised cod-limit outfall-1-cod 95@${T0} limit=90`]);
  });
});
