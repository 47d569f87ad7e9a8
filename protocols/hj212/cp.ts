/**
 * The command parameter area `CP=&&...&&` (HJ 212-2017, CP row of the data segment structure table): `;` separates groups, `,` separates the items of a
 * group, `=` separates key and value. Pollutant items are `<code>-<suffix>=value`; `DataTime=YYYYMMDDhhmmss` times the data.
 *
 * Two views are kept: the raw groups in received order (so a packet can be rebuilt byte for byte and commands this
 * codec does not interpret lose nothing) and an interpretation per pollutant code (values as numbers, data flag, run state).
 */
import { Hj212Error } from './errors.ts';
import { CHINA_STANDARD_TIME_OFFSET_MINUTES, formatHj212Time, parseHj212Time } from './time.ts';

export interface Hj212CpItem {
  key: string;
  value: string;
}
export type Hj212CpGroup = Hj212CpItem[];

/** Suffixes whose values are numbers: real-time, interval min/avg/max, the same converted to reference O2 (Zs*), cumulative amount. */
export const NUMERIC_SUFFIXES = ['Rtd', 'Min', 'Avg', 'Max', 'ZsRtd', 'ZsAvg', 'ZsMin', 'ZsMax', 'Cou'] as const;
export type Hj212NumericSuffix = (typeof NUMERIC_SUFFIXES)[number];
const numericSuffixes = new Set<string>(NUMERIC_SUFFIXES);

export interface Hj212Pollutant {
  /** The code as sent (a 2017 code such as w01018, or a 2005 one such as 011; see codes.ts for aliases). */
  code: string;
  /** null when the item was sent with an empty value (a logger with nothing to report for that period). */
  values: Partial<Record<Hj212NumericSuffix, number | null>>;
  /** The data flag (xxx-Flag): N, F, M, S, D, C, T, B. */
  flag?: string;
  /** Equipment run state (xxx-RS, CN 2021): 0 stopped, 1 normal, 2 calibration, 3 maintenance, 4 alarm, 5 backflush. */
  runState?: number;
  /** Suffixes this codec does not interpret (e.g. Info in CN 3020), first occurrence kept. */
  other: Record<string, string>;
}

export interface Hj212Data {
  /** DataTime in ms since the epoch, when the CP has one. */
  dataTime?: number;
  pollutants: Map<string, Hj212Pollutant>;
  /** Items that are not `<code>-<suffix>` (RtdInterval, QnRtn, ExeRtn, SystemTime, QN, PolId, ...), first occurrence kept. */
  fields: Map<string, string>;
}

export interface CpOptions {
  utcOffsetMinutes?: number;
}

/** Split the text between `CP=&&` and the closing `&&` into groups of items. */
export function parseCpGroups(text: string): Hj212CpGroup[] {
  if (text === '') return [];
  const groups: Hj212CpGroup[] = [];
  for (const groupText of text.split(';')) {
    if (groupText === '') {
      throw new Hj212Error('bad_field', `CP has an empty group (two ';' in a row, or one at an end) in ${JSON.stringify(preview(text))}`, {
        field: 'CP',
      });
    }
    const group: Hj212CpGroup = [];
    for (const itemText of groupText.split(',')) {
      const eq = itemText.indexOf('=');
      if (eq <= 0) {
        throw new Hj212Error('bad_field', `CP item ${JSON.stringify(preview(itemText))} is not key=value`, { field: 'CP', item: preview(itemText) });
      }
      const value = itemText.slice(eq + 1);
      if (value.includes('&')) {
        throw new Hj212Error('bad_field', `CP item ${JSON.stringify(preview(itemText))} contains '&' in its value`, { field: 'CP', item: preview(itemText) });
      }
      group.push({ key: itemText.slice(0, eq), value });
    }
    groups.push(group);
  }
  return groups;
}

const POLLUTANT_CODE = /^[A-Za-z0-9]+$/;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const RUN_STATE = /^\d{1,3}$/;
const DATA_FLAG = /^[A-Za-z]$/;

/**
 * Interpret CP groups. Throws Hj212Error(bad_field) for a malformed number, flag, run state or DataTime, and for a key
 * repeated with a different value (a split message's parts repeat DataTime with the same value, which is fine).
 */
export function interpretCp(groups: readonly Hj212CpGroup[], options: CpOptions = {}): Hj212Data {
  const offset = options.utcOffsetMinutes ?? CHINA_STANDARD_TIME_OFFSET_MINUTES;
  const data: Hj212Data = { pollutants: new Map(), fields: new Map() };
  for (const group of groups) {
    for (const { key, value } of group) {
      const dash = key.indexOf('-');
      const code = dash > 0 ? key.slice(0, dash) : '';
      if (code === '' || !POLLUTANT_CODE.test(code)) {
        const before = data.fields.get(key);
        if (before === undefined) {
          if (key === 'DataTime') data.dataTime = parseHj212Time(value, 'DataTime', offset);
          data.fields.set(key, value);
        } else if (key === 'DataTime' && before !== value) {
          repeated(key, before, value);
        }
        continue;
      }
      const suffix = key.slice(dash + 1);
      let pollutant = data.pollutants.get(code);
      if (!pollutant) {
        pollutant = { code, values: {}, other: {} };
        data.pollutants.set(code, pollutant);
      }
      if (numericSuffixes.has(suffix)) {
        if (value !== '' && !NUMBER.test(value)) {
          throw new Hj212Error('bad_field', `${key}=${JSON.stringify(preview(value))} is not a number`, { field: key, value: preview(value) });
        }
        const number = value === '' ? null : Number(value);
        const before = pollutant.values[suffix as Hj212NumericSuffix];
        if (before !== undefined && before !== number) repeated(key, String(before), value);
        pollutant.values[suffix as Hj212NumericSuffix] = number;
      } else if (suffix === 'Flag') {
        if (!DATA_FLAG.test(value)) {
          throw new Hj212Error('bad_field', `${key}=${JSON.stringify(preview(value))} must be one data flag letter (N, F, M, S, D, C, T, B)`, {
            field: key,
            value: preview(value),
          });
        }
        if (pollutant.flag !== undefined && pollutant.flag !== value) repeated(key, pollutant.flag, value);
        pollutant.flag = value;
      } else if (suffix === 'RS') {
        if (!RUN_STATE.test(value)) {
          throw new Hj212Error('bad_field', `${key}=${JSON.stringify(preview(value))} must be a run state number (0-5)`, { field: key, value: preview(value) });
        }
        const state = Number(value);
        if (pollutant.runState !== undefined && pollutant.runState !== state) repeated(key, String(pollutant.runState), value);
        pollutant.runState = state;
      } else if (!Object.hasOwn(pollutant.other, suffix)) {
        pollutant.other[suffix] = value;
      }
    }
  }
  return data;
}

function repeated(key: string, before: string, value: string): never {
  throw new Hj212Error('bad_field', `CP repeats ${key} with different values (${JSON.stringify(preview(before))} and ${JSON.stringify(preview(value))})`, {
    field: key,
  });
}

/** Long attacker-controlled text is cut in messages so that one bad frame cannot flood the logs. */
export function preview(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}...(${text.length} chars)`;
}

export interface Hj212PollutantInput {
  code: string;
  /** Numbers are written with String(n); pass strings for a fixed number of decimals ("50.00"); null sends an empty value. */
  values?: Partial<Record<Hj212NumericSuffix, number | string | null>>;
  flag?: string;
  runState?: number;
}

/**
 * CP groups in the layout of the standard's data uploads (2011/2051/2061/2031/2021): a DataTime group, then one group per
 * pollutant with its values, its data flag and its run state.
 */
export function dataCp(
  dataTime: number | undefined,
  pollutants: readonly Hj212PollutantInput[],
  utcOffsetMinutes = CHINA_STANDARD_TIME_OFFSET_MINUTES,
): Hj212CpGroup[] {
  const groups: Hj212CpGroup[] = [];
  if (dataTime !== undefined) groups.push([{ key: 'DataTime', value: formatHj212Time(dataTime, utcOffsetMinutes) }]);
  for (const p of pollutants) {
    const group: Hj212CpGroup = [];
    for (const [suffix, value] of Object.entries(p.values ?? {})) {
      if (value === undefined) continue;
      group.push({ key: `${p.code}-${suffix}`, value: value === null ? '' : String(value) });
    }
    if (p.flag !== undefined) group.push({ key: `${p.code}-Flag`, value: p.flag });
    if (p.runState !== undefined) group.push({ key: `${p.code}-RS`, value: String(p.runState) });
    if (group.length > 0) groups.push(group);
  }
  return groups;
}
