/**
 * HJ 212 pollutant codes (HJ 212-2017 appendix B, tables B.1 water and B.2 flue gas), the unit each code's values are
 * sent in, the cumulative (Cou) unit, and the core quantity a code feeds when the catalog has one.
 *
 * Units are written as core/catalog.ts spells them so that ingest can convert them (pH is dimensionless in the standard
 * and spelled 'pH' here, as core does). 2005 codes still sent by old loggers resolve to their 2017 code.
 */
import { quantityByHj212, quantityDef, type QuantityId } from '../../core/catalog.ts';
import type { Quality } from '../../core/reading.ts';

export interface Hj212CodeDef {
  code: string;
  label: string;
  /** Unit of Rtd/Min/Avg/Max values. */
  unit: string;
  /** Unit of the Cou (cumulative amount) value, when the code has one. */
  cumulativeUnit?: string;
  /** The core quantity, for codes the catalog covers. */
  quantity?: QuantityId;
}

const c = (code: string, label: string, unit: string, cumulativeUnit?: string): Hj212CodeDef => {
  const quantity = quantityByHj212(code);
  return { code, label, unit, ...(cumulativeUnit ? { cumulativeUnit } : {}), ...(quantity ? { quantity } : {}) };
};

const DEFINITIONS: Hj212CodeDef[] = [
  // water (table B.1)
  c('w00000', 'Wastewater flow', 'L/s', 'm3'),
  c('w01001', 'pH', 'pH'),
  c('w01009', 'Dissolved oxygen', 'mg/L'),
  c('w01010', 'Water temperature', 'degC'),
  c('w01012', 'Suspended solids', 'mg/L', 'kg'),
  c('w01014', 'Conductivity', 'uS/cm'),
  c('w01017', 'BOD5', 'mg/L', 'kg'),
  c('w01018', 'COD', 'mg/L', 'kg'),
  c('w01019', 'Permanganate index (CODMn)', 'mg/L', 'kg'),
  c('w01020', 'Total organic carbon', 'mg/L', 'kg'),
  c('w20111', 'Total mercury', 'ug/L', 'g'),
  c('w20115', 'Total cadmium', 'ug/L', 'g'),
  c('w20116', 'Total chromium', 'mg/L', 'kg'),
  c('w20117', 'Hexavalent chromium', 'ug/L', 'g'),
  c('w20119', 'Total arsenic', 'ug/L', 'g'),
  c('w20120', 'Total lead', 'ug/L', 'g'),
  c('w20121', 'Total nickel', 'mg/L', 'kg'),
  c('w20122', 'Total copper', 'mg/L', 'kg'),
  c('w20123', 'Total zinc', 'mg/L', 'kg'),
  c('w21001', 'Total nitrogen', 'mg/L', 'kg'),
  c('w21003', 'Ammonia nitrogen', 'mg/L', 'kg'),
  c('w21011', 'Total phosphorus', 'mg/L', 'kg'),
  c('w21016', 'Cyanide', 'mg/L', 'kg'),
  c('w21017', 'Fluoride', 'mg/L', 'kg'),
  c('w22001', 'Petroleum oils', 'mg/L', 'kg'),
  c('w23002', 'Volatile phenols', 'mg/L', 'kg'),
  // flue gas (table B.2)
  c('a00000', 'Flue gas flow', 'm3/s', 'm3'),
  c('a01011', 'Flue gas velocity', 'm/s'),
  c('a01012', 'Flue gas temperature', 'degC'),
  c('a01013', 'Flue gas pressure', 'kPa'),
  c('a01014', 'Flue gas humidity', '%'),
  c('a19001', 'Oxygen', '%'),
  c('a20025', 'Cadmium compounds', 'mg/m3', 'kg'),
  c('a20043', 'Lead compounds', 'mg/m3', 'kg'),
  c('a20057', 'Mercury compounds', 'mg/m3', 'kg'),
  c('a21002', 'NOx', 'mg/m3', 'kg'),
  c('a21003', 'NO', 'mg/m3', 'kg'),
  c('a21004', 'NO2', 'mg/m3', 'kg'),
  c('a21005', 'CO', 'mg/m3', 'kg'),
  c('a21024', 'Hydrogen chloride', 'mg/m3', 'kg'),
  c('a21026', 'SO2', 'mg/m3', 'kg'),
  c('a24088', 'Non-methane hydrocarbons', 'mg/m3', 'kg'),
  c('a34013', 'Particulate matter', 'mg/m3', 'kg'),
];

/** HJ/T 212-2005 codes still seen in the field, and the 2017 code each became. */
export const LEGACY_CODES: Readonly<Record<string, string>> = {
  B01: 'w00000',
  '011': 'w01018',
  '060': 'w21003',
  '101': 'w21011',
  '01': 'a34013',
  '02': 'a21026',
  '03': 'a21002',
};

export const HJ212_CODES: ReadonlyMap<string, Hj212CodeDef> = new Map(DEFINITIONS.map((d) => [d.code, d]));

/** The 2017 code for a code as sent (2005 aliases resolved), or the code unchanged. */
export function canonicalCode(code: string): string {
  return Object.hasOwn(LEGACY_CODES, code) ? (LEGACY_CODES[code] as string) : code;
}

/**
 * A code's definition and quantity. A plant may declare a quantity for a code (core/catalog-file.ts): a code of the
 * table then maps to it in the table's unit, a code the table lacks in the declared quantity's canonical unit.
 */
export function codeDef(code: string): Hj212CodeDef | undefined {
  const canonical = canonicalCode(code);
  const def = HJ212_CODES.get(canonical);
  if (def?.quantity !== undefined) return def;
  const declared = quantityByHj212(canonical);
  if (declared === undefined) return def;
  const q = quantityDef(declared);
  return { ...(def ?? { code: canonical, label: q.label.en, unit: q.unit }), quantity: declared };
}

export function quantityForCode(code: string): QuantityId | undefined {
  return codeDef(code)?.quantity;
}

export function unitForCode(code: string): string | undefined {
  return codeDef(code)?.unit;
}

/**
 * Data flags (xxx-Flag) to reading quality. Only N counts toward compliance averages. C (calibration), M (maintenance)
 * and S (manually set) carry a value that is real but not a normal measurement: uncertain. F (stopped), D (fault),
 * B (communication failure) and T (above measuring range) carry no trustworthy value: bad. A letter no standard
 * assigns is treated as uncertain; a missing flag as N (loggers omit it on normal data).
 */
const QUALITY_BY_FLAG: Readonly<Record<string, Quality>> = { N: 'good', C: 'uncertain', M: 'uncertain', S: 'uncertain', F: 'bad', D: 'bad', B: 'bad', T: 'bad' };

export function qualityForFlag(flag: string | undefined): Quality {
  if (flag === undefined) return 'good';
  return QUALITY_BY_FLAG[flag.toUpperCase()] ?? 'uncertain';
}
