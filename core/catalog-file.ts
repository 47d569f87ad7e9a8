/**
 * A plant's own quantities, declared in a catalog file (YAML) that the config of each stage (gateway, ingest, rules,
 * the dashboards' --catalog) names with `catalog:`, so that every stage agrees on what a name means. Each entry is
 * validated like the built-in catalog: a snake_case name that does not clash with a built-in one (unless it is the
 * same definition), a measurement the InfluxDB schema writes, a physical range, an optional HJ 212 code of the form of
 * HJ 212-2017 appendix B that no other quantity has, and for states what 0 and 1 mean.
 *
 *   quantities:
 *     - name: water_temperature
 *       measurement: water
 *       unit: degC
 *       range: [0, 100]
 *       hj212: w01010
 *       label: { zh: 水温, en: Water temperature }
 *     - name: pump_running
 *       measurement: production
 *       kind: state
 *       states: { 0: { zh: 停止, en: stopped }, 1: { zh: 运行, en: running } }
 *       label: { zh: 提升泵运行, en: Lift pump running }
 */
import { z } from 'zod';
import { builtinConversions, declareQuantities, DOMAINS, findQuantity, isBuiltinQuantityId, QUANTITY_KINDS, quantityByHj212, sameDefinition, type DeclaredQuantity } from './catalog.ts';
import { loadConfigFile } from './config.ts';
import { ConfigError, type ConfigIssue } from './errors.ts';

/** Quantity names are InfluxDB field names and rule selectors: snake_case, like the built-in ones. */
export const QUANTITY_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
/** HJ 212-2017 appendix B codes: a letter (w water, a air, e noise...) and five digits, e.g. w01018. */
export const HJ212_CODE_PATTERN = /^[a-z]\d{5}$/;

const labelSchema = z.strictObject({ zh: z.string().min(1), en: z.string().min(1) });

const entrySchema = z
  .strictObject({
    name: z.string().regex(QUANTITY_NAME_PATTERN, { message: `expected a snake_case name matching ${QUANTITY_NAME_PATTERN.source}` }),
    /** The InfluxDB measurement the quantity is written to. */
    measurement: z.enum(DOMAINS),
    kind: z.enum(QUANTITY_KINDS).default('gauge'),
    /** The canonical unit; a state's is `state`. */
    unit: z.string().min(1).optional(),
    /** Other units a sender may use, each with the factor to the canonical unit (canonical = value × factor). */
    units: z.record(z.string().min(1), z.number().positive().finite()).optional(),
    /** Physically possible range in the canonical unit; a state's is [0, 1]. */
    range: z.tuple([z.number().finite(), z.number().finite()]).optional(),
    hj212: z.string().regex(HJ212_CODE_PATTERN, { message: `expected an HJ 212 pollutant code matching ${HJ212_CODE_PATTERN.source}, such as w01010` }).optional(),
    label: labelSchema,
    states: z.strictObject({ 0: labelSchema, 1: labelSchema }).optional(),
  })
  .superRefine((e, ctx) => {
    if (e.kind === 'state') {
      if (!e.states) ctx.addIssue({ code: 'custom', path: ['states'], message: 'expected the meaning of 0 and 1 of a state ({ 0: { zh, en }, 1: { zh, en } })' });
      if (e.range && (e.range[0] !== 0 || e.range[1] !== 1)) ctx.addIssue({ code: 'custom', path: ['range'], message: 'expected [0, 1] or nothing: a state is 0 or 1' });
      if (e.unit !== undefined && e.unit !== 'state') ctx.addIssue({ code: 'custom', path: ['unit'], message: 'expected "state" or nothing: a state has no unit' });
      if (e.units) ctx.addIssue({ code: 'custom', path: ['units'], message: 'expected nothing: a state has no unit to convert' });
      return;
    }
    if (e.states) ctx.addIssue({ code: 'custom', path: ['states'], message: `expected nothing: only a state (kind: state) has states, this is a ${e.kind}` });
    if (e.unit === undefined) ctx.addIssue({ code: 'custom', path: ['unit'], message: 'expected the canonical unit, such as degC or mS/cm' });
    if (!e.range) ctx.addIssue({ code: 'custom', path: ['range'], message: 'expected the physical range [min, max] in the canonical unit' });
    else if (!(e.range[0] < e.range[1])) ctx.addIssue({ code: 'custom', path: ['range'], message: `expected min below max, got [${e.range[0]}, ${e.range[1]}]` });
    if (e.unit !== undefined && e.units && Object.hasOwn(e.units, e.unit) && e.units[e.unit] !== 1) {
      ctx.addIssue({ code: 'custom', path: ['units', e.unit], message: 'expected 1: the canonical unit converts to itself' });
    }
  });

export const catalogFileSchema = z
  .strictObject({ quantities: z.array(entrySchema).min(1) })
  .superRefine((file, ctx) => {
    const names = new Map<string, number>();
    const codes = new Map<string, number>();
    file.quantities.forEach((e, i) => {
      const before = names.get(e.name);
      if (before !== undefined) ctx.addIssue({ code: 'custom', path: ['quantities', i, 'name'], message: `expected a name not declared already (quantities[${before}])` });
      names.set(e.name, i);
      if (e.hj212 !== undefined) {
        const first = codes.get(e.hj212);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['quantities', i, 'hj212'], message: `expected a code no other quantity has (quantities[${first}] has ${e.hj212})` });
        codes.set(e.hj212, i);
      }
    });
  });

export type CatalogFile = z.output<typeof catalogFileSchema>;
type Entry = CatalogFile['quantities'][number];

function toDeclared(e: Entry): DeclaredQuantity {
  const state = e.kind === 'state';
  const unit = state ? 'state' : (e.unit as string);
  return {
    id: e.name,
    domain: e.measurement,
    label: e.label,
    unit,
    kind: e.kind,
    range: state ? [0, 1] : (e.range as [number, number]),
    ...(e.hj212 !== undefined ? { hj212: e.hj212 } : {}),
    ...(state && e.states ? { states: e.states } : {}),
    // a canonical unit the built-in catalog knows brings its conversions along (mg/L accepts ug/L, as COD does)
    units: { ...(state ? {} : builtinConversions(unit)), ...e.units, [unit]: 1 },
  };
}

/** Clashes with the quantities this process already knows: a name with another definition, a code already taken. */
function clashes(declared: readonly DeclaredQuantity[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  declared.forEach((def, i) => {
    const known = findQuantity(def.id);
    if (known !== undefined && !sameDefinition(known, def)) {
      const what = isBuiltinQuantityId(def.id) ? 'a built-in quantity' : 'a quantity declared already';
      issues.push({ path: `quantities[${i}].name`, expected: `expected a name that is not ${what} with another definition (${def.id} is ${known.label.en}, ${known.unit}, ${known.domain})` });
    }
    const owner = def.hj212 !== undefined ? quantityByHj212(def.hj212) : undefined;
    if (owner !== undefined && owner !== def.id) issues.push({ path: `quantities[${i}].hj212`, expected: `expected a code no other quantity has (${def.hj212} is ${owner}'s)` });
  });
  return issues;
}

/**
 * Reads, validates and declares a catalog file: afterwards its quantities are known to this process (isQuantityId,
 * unitFactor, the decoder's range check). A bad file fails with a ConfigError naming it, the field path and what was
 * expected there.
 */
export function loadCatalogFile(file: string): DeclaredQuantity[] {
  const parsed = loadConfigFile(file, catalogFileSchema);
  const declared = parsed.quantities.map(toDeclared);
  const issues = clashes(declared);
  if (issues.length) throw new ConfigError(file, issues);
  declareQuantities(declared);
  return declared;
}
