/**
 * The part of every driver's point config that says which reading a value becomes: plant, meter, quantity and the
 * unit the device reports in. The unit must be one the catalog converts to the quantity's canonical unit, checked
 * when the config is loaded rather than when ingest rejects the first batch.
 */
import { z } from 'zod';
import { acceptedUnits, isQuantityId, unitFactor, type QuantityId } from '../core/catalog.ts';
import { idSchema, quantityIdSchema } from '../core/config.ts';

export const readingTargetFields = {
  plant: idSchema,
  meter: idSchema,
  quantity: quantityIdSchema.transform((id) => id as QuantityId),
  unit: z.string().min(1),
};

export interface ReadingTarget {
  plant: string;
  meter: string;
  quantity: QuantityId;
  unit: string;
}

/** A zod check for an object holding readingTargetFields: reports a unit that does not fit the quantity at `unit`. */
export function checkTargetUnit(value: { quantity: QuantityId; unit: string }, ctx: z.core.$RefinementCtx): void {
  const quantity = value.quantity;
  // zod runs object checks even when a field failed; an unknown quantity is reported at `quantity` already.
  if (!isQuantityId(quantity)) return;
  if (unitFactor(quantity, value.unit) === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['unit'],
      message: `expected a unit of ${quantity}, one of ${acceptedUnits(quantity).map((u) => JSON.stringify(u)).join(', ')}`,
      input: value.unit,
    });
  }
}
