/**
 * HJ 212 data uploads to core Readings.
 *
 * Which value becomes the reading:
 *   2011 real-time data       Rtd
 *   2051 minute, 2061 hourly, 2031 daily data   Avg: the period's mean is the figure regulators judge, and it is what a
 *                             dashboard or rule comparing with a limit needs; Min/Max/Cou stay in the packet.
 * With `converted: true`, ZsRtd/ZsAvg (flue gas converted to the reference O2 content) are used where sent, falling back
 * to the measured value. The timestamp is DataTime (interval data is labelled with the start of its period).
 * The unit is the HJ 212 unit of the code (e.g. L/s for w00000); ingest converts it to the quantity's canonical unit.
 */
import { unitFactor } from '../../core/catalog.ts';
import { ID_PATTERN, NO_VALUE, type Reading } from '../../core/reading.ts';
import type { Hj212NumericSuffix } from './cp.ts';
import type { Hj212Packet } from './codec.ts';
import { canonicalCode, codeDef, qualityForFlag } from './codes.ts';
import { Hj212Error } from './errors.ts';

/** Per device (MN): the plant and, per pollutant code (2017 or 2005 spelling), the meter its readings belong to. */
export interface Hj212DeviceMapping {
  plant: string;
  meters: Readonly<Record<string, string>>;
}

export interface ToReadingsOptions {
  /** Use the values converted to reference O2 (Zs*) where sent. Default false. */
  converted?: boolean;
}

export interface SkippedPollutant {
  code: string;
  reason: string;
}

export interface ToReadingsResult {
  readings: Reading[];
  /** Pollutants in the packet that gave no reading, and why (unmapped meter, no catalog quantity, no value). */
  skipped: SkippedPollutant[];
}

export const DATA_COMMANDS: Readonly<Record<string, { value: Hj212NumericSuffix; converted: Hj212NumericSuffix }>> = {
  '2011': { value: 'Rtd', converted: 'ZsRtd' },
  '2051': { value: 'Avg', converted: 'ZsAvg' },
  '2061': { value: 'Avg', converted: 'ZsAvg' },
  '2031': { value: 'Avg', converted: 'ZsAvg' },
};

export function isDataCommand(cn: string): boolean {
  return Object.hasOwn(DATA_COMMANDS, cn);
}

/**
 * Readings of a 2011/2051/2061/2031 packet. Throws Hj212Error(bad_field) for another CN or an invalid mapping,
 * (missing_field) when the packet has no DataTime.
 */
export function toReadings(packet: Hj212Packet, mapping: Hj212DeviceMapping, options: ToReadingsOptions = {}): ToReadingsResult {
  const command = DATA_COMMANDS[packet.cn];
  if (!command) {
    throw new Hj212Error('bad_field', `CN=${packet.cn} carries no measurement data; readings come from CN ${Object.keys(DATA_COMMANDS).join(', ')}`, {
      field: 'CN',
      mn: packet.mn,
    });
  }
  if (!ID_PATTERN.test(mapping.plant)) {
    throw new Hj212Error('bad_field', `mapping for MN=${packet.mn}: plant ${JSON.stringify(mapping.plant)} must match ${ID_PATTERN}`, { mn: packet.mn });
  }
  const ts = packet.data.dataTime;
  if (ts === undefined) {
    throw new Hj212Error('missing_field', `CN=${packet.cn} packet from MN=${packet.mn} has no DataTime in CP`, { field: 'DataTime', mn: packet.mn });
  }
  const readings: Reading[] = [];
  const skipped: SkippedPollutant[] = [];
  for (const pollutant of packet.data.pollutants.values()) {
    const { code } = pollutant;
    const meter = mapping.meters[code] ?? mapping.meters[canonicalCode(code)];
    if (meter === undefined) {
      skipped.push({ code, reason: 'no meter mapped for this code' });
      continue;
    }
    if (!ID_PATTERN.test(meter)) {
      throw new Hj212Error('bad_field', `mapping for MN=${packet.mn}: meter ${JSON.stringify(meter)} of ${code} must match ${ID_PATTERN}`, { mn: packet.mn, code });
    }
    const def = codeDef(code);
    if (!def?.quantity) {
      skipped.push({ code, reason: 'no catalog quantity for this code' });
      continue;
    }
    if (unitFactor(def.quantity, def.unit) === undefined) {
      skipped.push({ code, reason: `unit ${def.unit} is not accepted for ${def.quantity} by core/catalog.ts` });
      continue;
    }
    const convertedValue = options.converted ? pollutant.values[command.converted] : undefined;
    const value = convertedValue !== undefined ? convertedValue : pollutant.values[command.value];
    if (value === undefined) {
      skipped.push({ code, reason: `no ${command.value} value in CN=${packet.cn} data` });
      continue;
    }
    const flagged = qualityForFlag(pollutant.flag);
    const quality = value === null && flagged === 'good' ? 'bad' : flagged;
    const reason = quality === 'good' ? undefined : reasonForFlag(pollutant.flag, value);
    readings.push({
      plant: mapping.plant,
      meter,
      quantity: def.quantity,
      value,
      unit: def.unit,
      ts,
      quality,
      ...(reason ? { reason } : {}),
    });
  }
  return { readings, skipped };
}

/**
 * Why a reading is not good, as a reading reason: the data flag the logger sent (`flag_d` for D, fault), or no_value
 * for a normal flag around no value.
 */
function reasonForFlag(flag: string | undefined, value: number | null): string | undefined {
  if (flag !== undefined && /^[A-Za-z]$/.test(flag) && flag.toUpperCase() !== 'N') return `flag_${flag.toLowerCase()}`;
  return value === null ? NO_VALUE : undefined;
}
