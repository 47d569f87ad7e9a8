/**
 * "Rule + input feed → expected alerts": the shape of every rules test. A feed is a list of steps (readings with
 * their event time, processing-time ticks, acknowledgements); the result is one line per alert transition, e.g.
 * `raised cod-limit outfall-1-cod 95@600000 limit=90`, so a test reads as the alert sequence a user would see.
 */
import { fileURLToPath } from 'node:url';
import type { QuantityId } from '../core/catalog.ts';
import type { PlantRegistry } from '../core/plants.ts';
import { demoPlants } from '../test/harness/plants.ts';
import type { Quality } from '../core/reading.ts';
import type { AlertTransition } from './alerts.ts';
import { parseRules } from './config.ts';
import { RulesEngine, type EngineSnapshot, type LateReading } from './engine.ts';
import { loadLimitsCatalog, type LimitsCatalog } from './limits/catalog.ts';
import { loadBaselines, loadEnergyCoefficients, type BaselineBook, type EnergyCoefficients } from './baselines.ts';

export const DEMO_PLANTS = fileURLToPath(new URL('../deploy/demo/plants.yaml', import.meta.url));
export const DEMO_OVERRIDES = fileURLToPath(new URL('./limits/overrides/demo.yaml', import.meta.url));

let catalog: LimitsCatalog | undefined;
export function demoRegistry(): PlantRegistry {
  return demoPlants();
}
let baselineBook: BaselineBook | undefined;
export function builtinBaselines(): BaselineBook {
  return (baselineBook ??= loadBaselines());
}
let energy: EnergyCoefficients | undefined;
export function builtinEnergyCoefficients(): EnergyCoefficients {
  return (energy ??= loadEnergyCoefficients());
}
export function builtinCatalog(): LimitsCatalog {
  return (catalog ??= loadLimitsCatalog());
}

export const MIN = 60_000;
/** 2024-01-01T00:00:00Z: every standard in the catalog is in force. */
export const T0 = Date.UTC(2024, 0, 1);

export type Step =
  | { ts: number; v: number | null; q?: Quality; unit?: string; plant?: string; meter?: string; quantity?: QuantityId; now?: number }
  | { tick: number }
  | { ack: string | { rule: string; plant: string; meter: string }; by: string; comment?: string; now?: number };

export interface Harness {
  engine: RulesEngine;
  transitions: AlertTransition[];
  late: LateReading[];
  clock: { now: number };
  feed(steps: readonly Step[]): string[];
  /** Every transition so far as lines. */
  lines(): string[];
}

export interface HarnessOptions {
  allowedLatenessMs?: number;
  idleFlushMs?: number;
  registry?: PlantRegistry | null;
  limits?: LimitsCatalog;
  /** Processing time at start (default T0). */
  startAt?: number;
  /** Static baselines (default: the shipped ones, rules/baselines/). */
  baselines?: BaselineBook;
  defaults?: { plant?: string; meter?: string; quantity?: QuantityId; unit?: string };
}

export function line(t: AlertTransition): string {
  const a = t.alert;
  const at = t.transition === 'cleared' ? a.clearedAt : t.transition === 'raised' ? a.raisedAt : t.transition === 'acknowledged' ? a.ackedAt : a.updatedAt;
  const v = a.value === null ? 'null' : String(Number(a.value.toPrecision(6)));
  return `${t.transition} ${a.rule} ${a.meter} ${v}@${at}${a.limit !== null && t.transition !== 'cleared' ? ` limit=${a.limit}` : ''}${t.transition === 'escalated' ? ` ${a.severity}` : ''}`;
}

export function harness(rules: unknown[], opts: HarnessOptions = {}, snapshot?: EngineSnapshot): Harness {
  const clock = { now: opts.startAt ?? T0 };
  const transitions: AlertTransition[] = [];
  const late: LateReading[] = [];
  const reg = opts.registry === null ? undefined : (opts.registry ?? demoRegistry());
  const engine = new RulesEngine({
    rules: parseRules('test rules', rules),
    limits: opts.limits ?? builtinCatalog(),
    baselines: opts.baselines ?? builtinBaselines(),
    energy: builtinEnergyCoefficients(),
    ...(reg ? { registry: reg } : {}),
    allowedLatenessMs: opts.allowedLatenessMs ?? 0,
    ...(opts.idleFlushMs !== undefined ? { idleFlushMs: opts.idleFlushMs } : {}),
    clock: () => clock.now,
    onTransition: (t) => transitions.push(t),
    onLate: (l) => late.push(l),
  });
  if (snapshot) engine.restore(snapshot);
  const d = { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod' as QuantityId, unit: 'mg/L', ...opts.defaults };
  return {
    engine,
    transitions,
    late,
    clock,
    feed(steps) {
      const before = transitions.length;
      for (const s of steps) {
        if ('tick' in s) {
          clock.now = s.tick;
          engine.tick(s.tick);
        } else if ('ack' in s) {
          if (s.now !== undefined) clock.now = s.now;
          engine.acknowledge(s.ack, s.by, s.comment);
        } else {
          if (s.now !== undefined) clock.now = s.now;
          const quantity = s.quantity ?? d.quantity;
          engine.ingestBatch({
            v: 1,
            gateway: 'gw-test',
            plant: s.plant ?? d.plant,
            seq: 0,
            sentAt: clock.now,
            readings: [{ meter: s.meter ?? d.meter, quantity, value: s.v, unit: s.unit ?? d.unit, ts: s.ts, quality: s.q ?? (s.v === null ? 'bad' : 'good') }],
          });
        }
      }
      return transitions.slice(before).map(line);
    },
    lines: () => transitions.map(line),
  };
}

/** Readings at a fixed interval from `start`: values in order. */
export function series(start: number, stepMs: number, values: (number | null)[], extra: Partial<Extract<Step, { ts: number }>> = {}): Step[] {
  return values.map((v, i) => ({ ...extra, ts: start + i * stepMs, v }));
}
