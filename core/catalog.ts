/**
 * The quantity and unit catalog: the one vocabulary for what is measured.
 *
 * A quantity id (e.g. `cod`) is used unchanged in MQTT payloads, as the InfluxDB field name, in rules and in the UI.
 * Each quantity has one canonical unit; ingest converts any accepted unit to it before writing, so a series in
 * InfluxDB never mixes units. HJ 212 codes are from HJ 212-2017 appendix B.
 *
 * The built-in quantities below are the default. A plant's own (water temperature, conductivity, a pump's on/off
 * state) are declared in a catalog file (core/catalog-file.ts) that each stage's config names with `catalog:`; once
 * declared they are looked up, converted and range-checked exactly like the built-in ones.
 */

export const DOMAINS = ['water', 'energy', 'emissions', 'production'] as const;
/** A domain is also the InfluxDB measurement the quantity is written to. */
export type Domain = (typeof DOMAINS)[number];

export interface QuantityDef {
  id: string;
  domain: Domain;
  label: { en: string; zh: string };
  unit: string;
  /**
   * Monotonic counters (totalised volume, energy) are never averaged by rules, only differenced. A state is 0 or 1
   * (a pump off or running), shown by its labels, never as a number.
   */
  kind: QuantityKind;
  /**
   * Physically possible range in the canonical unit; outside it a reading is out of range, not merely high: every
   * consumer decodes it as value null, quality bad, reason out_of_range (core/reading.ts decodeBatch).
   */
  range: [number, number];
  hj212?: string;
  /** States only: what 0 and 1 mean. */
  states?: { 0: StateLabel; 1: StateLabel };
}

export const QUANTITY_KINDS = ['gauge', 'counter', 'state'] as const;
export type QuantityKind = (typeof QUANTITY_KINDS)[number];
export interface StateLabel {
  en: string;
  zh: string;
}

const q = (
  id: string,
  domain: Domain,
  en: string,
  zh: string,
  unit: string,
  range: [number, number],
  hj212?: string,
  kind: 'gauge' | 'counter' = 'gauge',
): QuantityDef => ({ id, domain, label: { en, zh }, unit, kind, range, ...(hj212 ? { hj212 } : {}) });

export const QUANTITIES = {
  // water: outfall flow and effluent quality
  wastewater_flow: q('wastewater_flow', 'water', 'Wastewater flow', '废水流量', 'm3/h', [0, 100_000], 'w00000'),
  wastewater_volume: q('wastewater_volume', 'water', 'Wastewater volume (totalised)', '废水累计流量', 'm3', [0, 1e12], undefined, 'counter'),
  water_intake: q('water_intake', 'water', 'Fresh water intake', '取水流量', 'm3/h', [0, 100_000]),
  cod: q('cod', 'water', 'COD', '化学需氧量', 'mg/L', [0, 20_000], 'w01018'),
  nh3n: q('nh3n', 'water', 'Ammonia nitrogen', '氨氮', 'mg/L', [0, 2_000], 'w21003'),
  ph: q('ph', 'water', 'pH', 'pH值', 'pH', [0, 14], 'w01001'),
  tn: q('tn', 'water', 'Total nitrogen', '总氮', 'mg/L', [0, 2_000], 'w21001'),
  tp: q('tp', 'water', 'Total phosphorus', '总磷', 'mg/L', [0, 500], 'w21011'),
  hg: q('hg', 'water', 'Total mercury', '总汞', 'mg/L', [0, 100], 'w20111'),
  pb: q('pb', 'water', 'Total lead', '总铅', 'mg/L', [0, 1_000], 'w20120'),
  // energy
  active_power: q('active_power', 'energy', 'Active power', '有功功率', 'kW', [-1e6, 1e7]),
  active_energy: q('active_energy', 'energy', 'Active energy (counter)', '有功电能', 'kWh', [0, 1e13], undefined, 'counter'),
  steam_flow: q('steam_flow', 'energy', 'Steam flow', '蒸汽流量', 't/h', [0, 10_000]),
  natural_gas_flow: q('natural_gas_flow', 'energy', 'Natural gas flow', '天然气流量', 'm3/h', [0, 1e6]),
  // emissions: one stack's CEMS
  flue_gas_flow: q('flue_gas_flow', 'emissions', 'Flue gas flow', '烟气流量', 'm3/h', [0, 1e8], 'a00000'),
  o2: q('o2', 'emissions', 'Oxygen', '氧含量', '%', [0, 25], 'a19001'),
  so2: q('so2', 'emissions', 'SO2', '二氧化硫', 'mg/m3', [0, 20_000], 'a21026'),
  nox: q('nox', 'emissions', 'NOx', '氮氧化物', 'mg/m3', [0, 20_000], 'a21002'),
  particulate: q('particulate', 'emissions', 'Particulate matter', '颗粒物', 'mg/m3', [0, 20_000], 'a34013'),
  co2: q('co2', 'emissions', 'CO2', '二氧化碳', '%', [0, 30]),
  // production: the denominator of every per-unit-product indicator (water m3/t, energy kgce/t, COD kg/t), in tonnes
  // of the plant's product as its clean-production indicator system counts it (paper, fabric, crude steel, clinker)
  production_rate: q('production_rate', 'production', 'Production rate', '产量速率', 't/h', [0, 100_000]),
  production_total: q('production_total', 'production', 'Production (totalised)', '累计产量', 't', [0, 1e13], undefined, 'counter'),
} as const satisfies Record<string, QuantityDef>;

export type BuiltinQuantityId = keyof typeof QUANTITIES;
/** A built-in quantity, or one declared at start from a catalog file: validated by isQuantityId wherever it enters. */
export type QuantityId = BuiltinQuantityId | (string & {});
/** The built-in quantities only (declared ones: quantityIds()). */
export const QUANTITY_IDS = Object.keys(QUANTITIES) as BuiltinQuantityId[];

/** A declared quantity: its definition and the units it accepts, with the factor to its canonical unit. */
export interface DeclaredQuantity extends QuantityDef {
  units: Record<string, number>;
}

const declared = new Map<string, DeclaredQuantity>();

export function isBuiltinQuantityId(id: string): id is BuiltinQuantityId {
  return Object.hasOwn(QUANTITIES, id);
}

export function isQuantityId(id: string): id is QuantityId {
  return isBuiltinQuantityId(id) || declared.has(id);
}

/** Every quantity this process knows: the built-in ones, then the declared ones in the order they were declared. */
export function quantityIds(): QuantityId[] {
  return [...QUANTITY_IDS, ...declared.keys()];
}

/** The definition of a quantity already validated with isQuantityId; an id that is not one is a programming error. */
export function quantityDef(id: QuantityId): QuantityDef {
  if (isBuiltinQuantityId(id)) return QUANTITIES[id];
  const def = declared.get(id);
  if (def === undefined) throw new Error(`quantity ${JSON.stringify(id)} is neither built in nor declared`);
  return def;
}

/** The definition, or undefined for an id nobody declared (ids read back from storage or a request). */
export function findQuantity(id: string): QuantityDef | undefined {
  return isBuiltinQuantityId(id) ? QUANTITIES[id] : declared.get(id);
}

/**
 * Accepted units and their conversion to the canonical unit of a dimension: canonical = value * factor.
 * Keyed by canonical unit so that a unit is accepted only for quantities of the same dimension
 * (a `L/s` reading of COD is an error, not a conversion).
 */
const CONVERSIONS: Record<string, Record<string, number>> = {
  'm3/h': { 'm3/h': 1, 'L/s': 3.6, 'm3/s': 3600, 'm3/d': 1 / 24, 'L/min': 0.06, 'Nm3/h': 1 },
  m3: { m3: 1, L: 0.001 },
  'mg/L': { 'mg/L': 1, 'g/m3': 1, 'ug/L': 0.001, 'μg/L': 0.001 },
  pH: { pH: 1 },
  kW: { kW: 1, W: 0.001, MW: 1000 },
  kWh: { kWh: 1, Wh: 0.001, MWh: 1000 },
  't/h': { 't/h': 1, 'kg/h': 0.001, 'kg/s': 3.6 },
  t: { t: 1, kg: 0.001 },
  '%': { '%': 1 },
  'mg/m3': { 'mg/m3': 1, 'ug/m3': 0.001, 'μg/m3': 0.001, 'g/m3': 1000 },
};

/** The factor that turns a value in `unit` into the quantity's canonical unit, or undefined if the unit does not fit. */
export function unitFactor(id: QuantityId, unit: string): number | undefined {
  const table = unitTable(id);
  // own keys only: a unit named "constructor" or "toString" is not a unit
  return table !== undefined && Object.hasOwn(table, unit) ? table[unit] : undefined;
}

export function acceptedUnits(id: QuantityId): string[] {
  return Object.keys(unitTable(id) ?? {});
}

function unitTable(id: QuantityId): Record<string, number> | undefined {
  if (isBuiltinQuantityId(id)) return CONVERSIONS[QUANTITIES[id].unit];
  return declared.get(id)?.units;
}

/** The built-in conversions of a canonical unit (a declared quantity in `mg/L` accepts `ug/L` like COD does). */
export function builtinConversions(canonicalUnit: string): Record<string, number> | undefined {
  return Object.hasOwn(CONVERSIONS, canonicalUnit) ? CONVERSIONS[canonicalUnit] : undefined;
}

const byHj212 = new Map<string, QuantityId>(
  QUANTITY_IDS.flatMap((id): [string, QuantityId][] => {
    const code = (QUANTITIES[id] as QuantityDef).hj212;
    return code ? [[code, id]] : [];
  }),
);

export function quantityByHj212(code: string): QuantityId | undefined {
  return byHj212.get(code);
}

/**
 * Adds declared quantities to this process's catalog (core/catalog-file.ts validates them first). Declaring the same
 * definition again is a no-op, so that every stage of one process may name the same file; a different definition
 * under a name already taken, or an HJ 212 code already mapped, is refused: two stages must never disagree on what a
 * name means.
 */
export function declareQuantities(defs: readonly DeclaredQuantity[]): void {
  for (const def of defs) {
    const known = findQuantity(def.id);
    if (known !== undefined && !sameDefinition(known, def)) {
      throw new Error(`quantity ${def.id} is already ${isBuiltinQuantityId(def.id) ? 'built in' : 'declared'} with another definition`);
    }
    const owner = def.hj212 !== undefined ? byHj212.get(def.hj212) : undefined;
    if (owner !== undefined && owner !== def.id) throw new Error(`HJ 212 code ${def.hj212} is already the code of ${owner}`);
  }
  for (const def of defs) {
    if (isBuiltinQuantityId(def.id) || declared.has(def.id)) continue;
    declared.set(def.id, def);
    if (def.hj212 !== undefined) byHj212.set(def.hj212, def.id);
  }
}

/** Forgets declared quantities: for tests that declare their own. */
export function clearDeclaredQuantities(): void {
  for (const [id, def] of declared) if (def.hj212 !== undefined && byHj212.get(def.hj212) === id) byHj212.delete(def.hj212);
  declared.clear();
}

/** Whether two definitions say the same thing, units and conversions included. */
export function sameDefinition(a: QuantityDef, b: QuantityDef): boolean {
  const units = (d: QuantityDef): Record<string, number> | undefined => ('units' in d ? (d as DeclaredQuantity).units : builtinConversions(d.unit));
  const canonical = (d: QuantityDef): string =>
    JSON.stringify([d.id, d.domain, d.label.en, d.label.zh, d.unit, d.kind, d.range, d.hj212 ?? null, d.states ?? null, Object.entries(units(d) ?? {}).sort()]);
  return canonical(a) === canonical(b);
}
