/**
 * `intensity`: the baseline deviation of a per-unit-product indicator, over a tumbling event-time window (a day by
 * default), against the plant's clean-production baseline (its own value, or its industry's level I/II/III from the
 * baseline files, rules/baselines/), raised when above it by more than a margin:
 *
 *   water_m3_per_t      wastewater volume (m3) / production (t)
 *   energy_kgce_per_t   comprehensive energy (kgce) / production (t): electricity, natural gas and steam converted
 *                       to standard coal by the coefficients of rules/baselines/energy-coefficients.yaml (GB/T 2589)
 *   cod_kg_per_t        COD load (kg) / production (t), load = window-mean concentration (mg/L) × volume (m3) / 1000
 *                       (mg/L × m3 = g; / 1000 gives kg)
 *
 * Amounts come from counters (wastewater_volume, active_energy, production_total: the increase over the window,
 * a drop read as a counter reset) or, where a plant has no counter, from rates integrated over event time
 * (wastewater_flow, active_power, natural_gas_flow, steam_flow, production_rate: each value held until the next
 * sample, never across a gap longer than maxGapMs). An increase between two samples is shared between windows in
 * proportion to time. Where a plant has both, the counter is used for a window it has data in.
 *
 * A plant-level rule: one operator per plant, fed by every series of the quantities it needs (any meter), its alert
 * on the plant's production meter. A window is judged once every source seen so far (wastewater, electricity,
 * production, ...: the furthest of its meters) has passed its end in event time; one with no production (a stop),
 * or with a part missing or not convertible (steam without the plant's coefficient), is not judged.
 */
import { z } from 'zod';
import { durationMs } from '../../core/config.ts';
import type { QuantityId } from '../../core/catalog.ts';
import { alignedWindowStart } from '../windows.ts';
import type { Plant } from '../../core/plants.ts';
import { fmt, usable, type AlertPort, type BindContext, type Localized, type MessageFacts, type Operator, type PlantOperator, type QualityCode, type RuleKind } from './types.ts';

export const INDICATORS = ['water_m3_per_t', 'energy_kgce_per_t', 'cod_kg_per_t'] as const;
export type Indicator = (typeof INDICATORS)[number];

export const intensityParams = z
  .strictObject({
    indicator: z.enum(INDICATORS),
    level: z.enum(['plant', 'I', 'II', 'III']).default('plant'),
    windowMs: durationMs.default(86_400_000),
    /** Raised when the intensity is more than this percentage above the baseline. */
    marginPct: z.number().nonnegative(),
    /** Cleared when the intensity is at or below baseline × (1 + clearMarginPct/100); default 0 (back at the baseline). */
    clearMarginPct: z.number().nonnegative().default(0),
    /** A window with less production than this (t) is not judged: a plant that stood still has no intensity. */
    minProductionT: z.number().nonnegative().default(0),
    /** Rates are not integrated across a silence longer than this (a meter offline is not a meter reading its last value). */
    maxGapMs: durationMs.default(900_000),
    /** Windows waiting for a late input beyond this many are dropped unjudged. */
    maxPendingWindows: z.number().int().positive().default(3),
  })
  .refine((p) => p.clearMarginPct <= p.marginPct, { path: ['clearMarginPct'], message: 'expected at most marginPct' });
export type IntensityParams = z.output<typeof intensityParams>;

type Part = 'amount' | 'volume' | 'concentration' | 'production';
type How = 'counter' | 'rate' | 'level';

interface Input {
  part: Part;
  quantity: QuantityId;
  how: How;
  /** Which physical flow it measures: alternatives of one source (volume counter or flow) share it; lower rank wins. */
  source: string;
  rank: number;
}

const production: Input[] = [
  { part: 'production', quantity: 'production_total', how: 'counter', source: 'production', rank: 0 },
  { part: 'production', quantity: 'production_rate', how: 'rate', source: 'production', rank: 1 },
];

/** Wastewater from the outfall's volume counter, else its flow meter. */
const wastewater = (part: Part): Input[] => [
  { part, quantity: 'wastewater_volume', how: 'counter', source: 'wastewater', rank: 0 },
  { part, quantity: 'wastewater_flow', how: 'rate', source: 'wastewater', rank: 1 },
];

/** What each indicator is computed from. */
export const INDICATOR_INPUTS: Record<Indicator, readonly Input[]> = {
  water_m3_per_t: [...wastewater('amount'), ...production],
  energy_kgce_per_t: [
    { part: 'amount', quantity: 'active_energy', how: 'counter', source: 'electricity', rank: 0 },
    { part: 'amount', quantity: 'active_power', how: 'rate', source: 'electricity', rank: 1 },
    { part: 'amount', quantity: 'natural_gas_flow', how: 'rate', source: 'natural_gas', rank: 0 },
    { part: 'amount', quantity: 'steam_flow', how: 'rate', source: 'steam', rank: 0 },
    ...production,
  ],
  cod_kg_per_t: [...wastewater('volume'), { part: 'concentration', quantity: 'cod', how: 'level', source: 'cod', rank: 0 }, ...production],
};

const UNITS: Record<Indicator, { en: string; zh: string; unit: string }> = {
  water_m3_per_t: { en: 'Wastewater per tonne of product', zh: '吨产品废水量', unit: 'm3/t' },
  energy_kgce_per_t: { en: 'Comprehensive energy per tonne of product', zh: '吨产品综合能耗', unit: 'kgce/t' },
  cod_kg_per_t: { en: 'COD per tonne of product', zh: '吨产品化学需氧量', unit: 'kg/t' },
};

/** Per window: per source and alternative rank, the amount (or, for levels, sum and count of values). */
interface WindowAcc {
  sums: Record<string, number[]>;
  counts: Record<string, number[]>;
}

interface InputState {
  source: string;
  lastTs: number;
  lastValue: number;
  watermark: number;
}

export interface IntensityState {
  inputs: [key: string, source: string, lastTs: number | null, lastValue: number | null, watermark: number | null][];
  windows: [start: number, acc: WindowAcc][];
}

const orNull = (x: number): number | null => (Number.isFinite(x) ? x : null);
// copies: a snapshot must not change with the windows it was taken from
const copyLists = (r: Record<string, number[]>): Record<string, number[]> => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.slice()]));
const orNaN = (x: number | null): number => x ?? NaN;

/** One plant's indicator. Inputs are told apart by key (meter/quantity); the engine routes their samples here. */
export class IntensityOperator implements PlantOperator {
  private readonly inputs = new Map<string, InputState>();
  private readonly windows = new Map<number, WindowAcc>();

  constructor(
    private readonly p: IntensityParams,
    private readonly baseline: number | undefined,
    /** kgce per unit amount of an energy quantity at this plant (undefined: not convertible). */
    private readonly kgcePer: (quantity: QuantityId) => number | undefined,
  ) {}

  /** Plant-level operators are fed through input(); the series' own sample calls do not reach here. */
  sample(): void {}

  inputFor(meter: string, quantity: QuantityId, port: AlertPort): Operator | undefined {
    const input = INDICATOR_INPUTS[this.p.indicator].find((i) => i.quantity === quantity);
    return input ? new IntensityInput(this, `${meter}/${quantity}`, input, port) : undefined;
  }

  input(key: string, input: Input, ts: number, value: number, quality: QualityCode, alert: AlertPort): void {
    let st = this.inputs.get(key);
    if (!st) this.inputs.set(key, (st = { source: input.source, lastTs: NaN, lastValue: NaN, watermark: -Infinity }));
    if (ts > st.watermark) st.watermark = ts;
    if (usable(value, quality)) {
      if (input.how === 'level') this.add(ts, input, value, 1);
      else if (st.lastTs === st.lastTs) this.spread(st, input, ts, value);
      st.lastTs = ts;
      st.lastValue = value;
    }
    this.judgeDue(alert);
  }

  inputWatermark(key: string, watermark: number, alert: AlertPort): void {
    const st = this.inputs.get(key);
    if (!st || watermark <= st.watermark) return;
    st.watermark = watermark;
    this.judgeDue(alert);
  }

  /** The amount between the last sample and this one, shared between windows in proportion to time. */
  private spread(st: InputState, input: Input, ts: number, value: number): void {
    const from = st.lastTs;
    if (ts <= from) return;
    let amount: number;
    if (input.how === 'counter') {
      amount = value >= st.lastValue ? value - st.lastValue : value; // a drop: the counter was reset, counted from 0
    } else {
      if (ts - from > this.p.maxGapMs) return;
      amount = (st.lastValue * (ts - from)) / 3_600_000; // rates are per hour: m3/h, t/h, kW
    }
    const size = this.p.windowMs;
    for (let start = alignedWindowStart(from, size); start < ts; start += size) {
      const overlap = Math.min(ts, start + size) - Math.max(from, start);
      if (overlap > 0) this.add(start, input, (amount * overlap) / (ts - from), 0, true);
    }
  }

  private add(tsOrStart: number, input: Input, amount: number, count: number, isStart = false): void {
    const start = isStart ? tsOrStart : alignedWindowStart(tsOrStart, this.p.windowMs);
    let acc = this.windows.get(start);
    if (!acc) this.windows.set(start, (acc = { sums: {}, counts: {} }));
    const sums = (acc.sums[input.source] ??= []);
    const counts = (acc.counts[input.source] ??= []);
    sums[input.rank] = (sums[input.rank] ?? 0) + amount;
    counts[input.rank] = (counts[input.rank] ?? 0) + (count || 1);
  }

  private judgeDue(alert: AlertPort): void {
    if (!this.windows.size) return;
    // event time is complete up to where every source (wastewater, production, ...) is: the furthest of its meters
    // and alternatives, so that a flow meter next to a working volume counter holds nothing back
    const bySource = new Map<string, number>();
    for (const st of this.inputs.values()) bySource.set(st.source, Math.max(bySource.get(st.source) ?? -Infinity, st.watermark));
    let complete = Infinity;
    for (const w of bySource.values()) if (w < complete) complete = w;
    const starts = [...this.windows.keys()].sort((a, b) => a - b);
    for (const start of starts) {
      const end = start + this.p.windowMs;
      if (end > complete) break;
      const acc = this.windows.get(start)!;
      this.windows.delete(start);
      this.judge(end, acc, alert);
    }
    // an input that stopped holds windows back: past the bound the oldest go unjudged
    const pending = [...this.windows.keys()].sort((a, b) => a - b);
    for (let i = 0; i < pending.length - this.p.maxPendingWindows; i++) this.windows.delete(pending[i]!);
  }

  /** The windows's intensity, or undefined when it cannot be told (no production, a part missing). */
  private intensity(acc: WindowAcc): number | undefined {
    const inputs = INDICATOR_INPUTS[this.p.indicator];
    const preferred = (source: string): number | undefined => {
      const sums = acc.sums[source];
      if (!sums) return undefined;
      for (let rank = 0; rank < sums.length; rank++) if (sums[rank] !== undefined) return sums[rank];
      return undefined;
    };
    const produced = preferred('production');
    if (produced === undefined || produced <= this.p.minProductionT || produced <= 0) return undefined;
    const sources = new Set(inputs.filter((i) => i.part !== 'production').map((i) => i.source));
    if (this.p.indicator === 'cod_kg_per_t') {
      const volume = preferred('wastewater');
      const sum = acc.sums.cod?.[0];
      const n = acc.counts.cod?.[0];
      if (volume === undefined || sum === undefined || !n) return undefined;
      return ((sum / n) * volume) / 1000 / produced;
    }
    let amount = 0;
    let any = false;
    for (const source of sources) {
      const v = preferred(source);
      if (v === undefined) continue;
      any = true;
      if (this.p.indicator === 'energy_kgce_per_t') {
        const used = inputs.find((i) => i.source === source && acc.sums[source]![i.rank] !== undefined)!;
        const k = this.kgcePer(used.quantity);
        if (k === undefined) return undefined; // measured but not convertible (steam without plant data)
        amount += v * k;
      } else {
        amount += v;
      }
    }
    return any ? amount / produced : undefined;
  }

  private judge(end: number, acc: WindowAcc, alert: AlertPort): void {
    const b = this.baseline;
    if (b === undefined) return;
    const value = this.intensity(acc);
    if (value === undefined) return;
    const raiseAbove = b * (1 + this.p.marginPct / 100);
    if (value > raiseAbove) alert.trigger(end, value, { max: raiseAbove });
    else if (value <= b * (1 + this.p.clearMarginPct / 100)) alert.clear(end, value);
    else alert.relax();
  }

  snapshot(): IntensityState {
    return {
      inputs: [...this.inputs].map(([key, s]) => [key, s.source, orNull(s.lastTs), orNull(s.lastValue), orNull(s.watermark)]),
      windows: [...this.windows].map(([start, acc]) => [start, { sums: copyLists(acc.sums), counts: copyLists(acc.counts) }]),
    };
  }

  restore(state: unknown): void {
    const s = state as IntensityState;
    this.inputs.clear();
    this.windows.clear();
    for (const [key, source, lastTs, lastValue, watermark] of s.inputs) this.inputs.set(key, { source, lastTs: orNaN(lastTs), lastValue: orNaN(lastValue), watermark: watermark ?? -Infinity });
    for (const [start, acc] of s.windows) this.windows.set(start, acc);
  }
}

/** What the engine routes one series' samples through to its plant's operator. Stateless: the state is the plant's. */
export class IntensityInput implements Operator {
  constructor(
    private readonly plantOp: IntensityOperator,
    private readonly key: string,
    private readonly input: Input,
    private readonly port: AlertPort,
  ) {}

  sample(ts: number, value: number, quality: QualityCode): void {
    this.plantOp.input(this.key, this.input, ts, value, quality, this.port);
  }

  watermark(watermark: number): void {
    this.plantOp.inputWatermark(this.key, watermark, this.port);
  }

  snapshot(): null {
    return null;
  }

  restore(): void {}
}

export const intensityKind: RuleKind<typeof intensityParams> = {
  kind: 'intensity',
  params: intensityParams,
  needsQuantity: false,
  plantInputs: (params: IntensityParams) => INDICATOR_INPUTS[params.indicator].map((i) => i.quantity),
  // the alert is the plant's, shown on its production meter
  plantAlertMeter: (_params: IntensityParams, plant: Plant | undefined) =>
    plant?.meters.find((m) => m.quantities.includes('production_total'))?.id ?? plant?.meters.find((m) => m.quantities.includes('production_rate'))?.id ?? 'production',
  create: (params: IntensityParams, ctx: BindContext) =>
    new IntensityOperator(params, ctx.baselineOf?.(params.indicator, params.level), (q) => ctx.kgcePer?.(q)),
  describe(params: IntensityParams, f: MessageFacts): Localized {
    const u = UNITS[params.indicator];
    const hours = fmt(params.windowMs / 3_600_000);
    const level = params.level === 'plant' ? "the plant's baseline" : `the level ${params.level} baseline`;
    const levelZh = params.level === 'plant' ? '本厂基准值' : `${params.level} 级基准值`;
    const above = f.threshold?.max !== undefined ? `${fmt(f.threshold.max)} ${u.unit}` : '?';
    return {
      en: `${u.en} at ${f.plantName.en}: ${fmt(f.value)} ${u.unit} over ${hours} h is more than ${params.marginPct}% above ${level} (alert above ${above})`,
      zh: `${f.plantName.zh} ${u.zh} ${hours} 小时 ${fmt(f.value)} ${u.unit}，超过${levelZh} ${params.marginPct}% 以上（报警线 ${above}）`,
    };
  },
  valueUnit: (params: IntensityParams) => UNITS[params.indicator].unit,
};
