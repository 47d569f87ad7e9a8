/**
 * Alert text is for people (issue #15 item 6): the plant's and the meter's names in the reader's language, no ids;
 * the value and the bound crossed with their unit once (none after a pH value); "below the floor" / "above the
 * ceiling" for a range. One case per rule kind, in both languages, as the webhook and the dashboard show them.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../alerts.ts';
import { harness, MIN, series, T0, type Harness } from '../test-support.ts';

function raised(h: Harness): Alert {
  const t = h.transitions.find((x) => x.transition === 'raised');
  if (!t) throw new Error(`nothing raised: ${h.lines().join('; ')}`);
  return t.alert;
}

const PH = { meter: 'outfall-1-ph', quantity: 'ph', unit: 'pH' } as const;

describe('alert text for people', () => {
  it('limit, pH below its floor: "below the floor 6", no "pH" after the value, the range and the standard', () => {
    const h = harness([{ id: 'ph-range', kind: 'limit', severity: 'minor', selector: { quantity: 'ph' }, limit: 'catalog' }], { defaults: PH });
    h.feed(series(T0, MIN, [7.2, 5.432]));
    const a = raised(h);
    expect(a.message.en).toBe('pH 5.432 at Baoding Paper Mill, Main outfall pH meter is below the floor 6 (range 6–9; GB 3544-2008)');
    expect(a.message.zh).toBe('保定造纸厂 总排口pH计 pH值 5.432，低于下限 6（范围 6–9；GB 3544-2008）');
    expect(a).toMatchObject({ plant: 'paper-01', meter: 'outfall-1-ph', value: 5.432, limit: 6, bound: 'min', unit: 'pH' });
  });

  it('limit, pH above its ceiling: "above the ceiling 9"', () => {
    const h = harness([{ id: 'ph-range', kind: 'limit', severity: 'minor', selector: { quantity: 'ph' }, limit: 'catalog' }], { defaults: PH });
    h.feed(series(T0, MIN, [9.463]));
    const a = raised(h);
    expect(a.message.en).toBe('pH 9.463 at Baoding Paper Mill, Main outfall pH meter is above the ceiling 9 (range 6–9; GB 3544-2008)');
    expect(a.message.zh).toBe('保定造纸厂 总排口pH计 pH值 9.463，高于上限 9（范围 6–9；GB 3544-2008）');
    expect(a).toMatchObject({ limit: 9, bound: 'max' });
  });

  it('limit, COD above an upper limit: value and limit in mg/L, an unverified standard said so', () => {
    const h = harness([{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog' }], { defaults: { plant: 'steel-01' } });
    h.feed(series(T0, MIN, [61.25]));
    const a = raised(h);
    expect(a.message.en).toBe('COD 61.25 mg/L at Anshan Steel Works, Main outfall COD analyser is above the limit 50 mg/L (GB 13456-2012, UNVERIFIED)');
    expect(a.message.zh).toBe('鞍山钢铁厂 总排口COD在线监测仪 化学需氧量 61.25 mg/L，超过限值 50 mg/L（GB 13456-2012，数值未核实）');
    expect(a).toMatchObject({ bound: 'max', unit: 'mg/L' });
  });

  it('sustained: how long, the bound crossed and the value now', () => {
    const h = harness([{ id: 'cod-30min', kind: 'sustained', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 90 }, forMs: 30 * MIN }]);
    h.feed(series(T0, 10 * MIN, [95, 95, 95, 95]));
    const a = raised(h);
    expect(a.message.en).toBe('COD at Baoding Paper Mill, Main outfall COD analyser above the limit 90 mg/L for 30 min or more (now 95 mg/L)');
    expect(a.message.zh).toBe('保定造纸厂 总排口COD在线监测仪 化学需氧量持续 30 分钟以上超过限值 90 mg/L（当前 95 mg/L）');
  });

  it('repeated: a count, with no unit', () => {
    const h = harness([{ id: 'cod-3x', kind: 'repeated', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 90 }, times: 3, withinMs: 60 * MIN }]);
    h.feed(series(T0, 10 * MIN, [95, 80, 95, 80, 97]));
    const a = raised(h);
    expect(a.message.en).toBe('COD at Baoding Paper Mill, Main outfall COD analyser exceeded the limit 90 mg/L 3 times within 1 h (alert at 3)');
    expect(a.message.zh).toBe('保定造纸厂 总排口COD在线监测仪 化学需氧量 1 小时内 3 次超过限值 90 mg/L（3 次即报警）');
    expect(a.unit).toBeNull();
  });

  it('rate: per minute, in the quantity\'s unit', () => {
    const h = harness([{ id: 'cod-jump', kind: 'rate', severity: 'warning', selector: { quantity: 'cod' }, maxPerMinute: 5, direction: 'rise', windowMs: 2 * MIN }]);
    h.feed(series(T0, MIN, [40, 41, 42, 55]));
    const a = raised(h);
    expect(a.message.en).toBe('COD at Baoding Paper Mill, Main outfall COD analyser changing at 7 mg/L/min, faster than 5 mg/L/min');
    expect(a.message.zh).toBe('保定造纸厂 总排口COD在线监测仪 化学需氧量变化速率 7 mg/L/分钟，超过 5 mg/L/分钟');
    expect(a.unit).toBe('mg/L/min');
  });

  it('rate of pH: "pH/min", not a bare "/min"', () => {
    const h = harness([{ id: 'ph-jump', kind: 'rate', severity: 'warning', selector: { quantity: 'ph' }, maxPerMinute: 0.5, direction: 'rise', windowMs: 2 * MIN }], { defaults: PH });
    h.feed(series(T0, MIN, [7, 7, 8.5]));
    expect(raised(h).unit).toBe('pH/min');
  });

  it('flatline: the stuck value and the tolerance with the unit', () => {
    const h = harness([{ id: 'cod-flat', kind: 'flatline', severity: 'minor', selector: { quantity: 'cod' }, epsilon: 0.05, samples: 5 }]);
    h.feed(series(T0, MIN, [52.1, 48.0, 48.02, 47.99, 48.0, 48.01]));
    const a = raised(h);
    expect(a.message.en).toBe('COD at Baoding Paper Mill, Main outfall COD analyser flat at 48.01 mg/L (within 0.05 mg/L) for 5 samples: analyser stuck?');
    expect(a.message.zh).toBe('保定造纸厂 总排口COD在线监测仪 化学需氧量在 5 个样本内恒定于 48.01 mg/L（波动不超过 0.05 mg/L），仪表可能故障');
  });

  it('quality: a share in %', () => {
    const h = harness([{ id: 'cod-quality', kind: 'quality', severity: 'minor', selector: { quantity: 'cod' }, windowMs: 10 * MIN, maxShare: 0.3, minSamples: 4 }]);
    h.feed((['good', 'good', 'bad', 'bad'] as const).map((q, i) => ({ ts: T0 + i * MIN, v: q === 'bad' ? null : 50, q })));
    const a = raised(h);
    expect(a.message.en).toBe('50% of COD readings at Baoding Paper Mill, Main outfall COD analyser bad or uncertain over 10 min (more than 30%)');
    expect(a.message.zh).toBe('保定造纸厂 总排口COD在线监测仪 化学需氧量在 10 分钟内 50% 为坏值或可疑值（超过 30%）');
    expect(a.unit).toBe('%');
  });

  it('stale: minutes of silence at the named meter', () => {
    const h = harness([{ id: 'meter-stale', kind: 'stale', severity: 'major', selector: { plants: ['paper-01'], meters: ['outfall-1-cod'] }, afterMs: 5 * MIN }]);
    h.feed([{ ts: T0, v: 50, now: T0 }, { tick: T0 + 5 * MIN }]);
    const a = raised(h);
    expect(a.message.en).toBe('No data from Baoding Paper Mill, Main outfall COD analyser for 5 min (limit 5 min)');
    expect(a.message.zh).toBe('保定造纸厂 总排口COD在线监测仪已 5 分钟无数据（限 5 分钟）');
    expect(a.unit).toBe('min');
  });

  it('baseline: the mean and the alert line with units', () => {
    const h = harness([{ id: 'cod-vs-baseline', kind: 'baseline', severity: 'minor', selector: { quantity: 'cod' }, meanOverMs: 60 * MIN, marginPct: 20 }]);
    h.feed([...series(T0, 30 * MIN, [120, 140, 140, 160]), { ts: T0 + 120 * MIN, v: 100 }]);
    const a = raised(h);
    expect(a.message.en).toBe("COD at Baoding Paper Mill, Main outfall COD analyser: 60 min mean 150 mg/L is more than 20% above the plant's baseline (alert above 144 mg/L)");
    expect(a.message.zh).toBe('保定造纸厂 总排口COD在线监测仪 化学需氧量 60 分钟均值 150 mg/L，超过本厂基准值 20% 以上（报警线 144 mg/L）');
  });

  it('a plant or meter the registry does not name is called by its id', () => {
    const h = harness([{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 90 } }], { registry: null, defaults: { plant: 'unknown-01', meter: 'cod-x' } });
    h.feed(series(T0, MIN, [95]));
    expect(raised(h).message.en).toBe('COD 95 mg/L at unknown-01, cod-x is above the limit 90 mg/L');
  });

  it('clearing keeps the text and says so in both languages', () => {
    const h = harness([{ id: 'ph-range', kind: 'limit', severity: 'minor', selector: { quantity: 'ph' }, limit: 'catalog' }], { defaults: PH });
    h.feed(series(T0, MIN, [5.5, 7]));
    const cleared = h.transitions.find((t) => t.transition === 'cleared')!.alert;
    expect(cleared.message.zh).toMatch(/^已恢复：保定造纸厂 总排口pH计 pH值 5\.5，低于下限 6/);
    expect(cleared.message.en).toMatch(/^Cleared: pH 5\.5 at Baoding Paper Mill, Main outfall pH meter is below the floor 6/);
  });
});
