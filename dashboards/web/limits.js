// Limits come from the server (GET /api/plants/:plant/limits: the same limits catalog the rules stage judges by).

/** { quantity → { min?, max?, standard, verified } } from the API's answer. */
export function limitsByQuantity(answer) {
  return new Map((answer?.limits ?? []).map((l) => [l.quantity, l]));
}

export function exceeds(limit, value) {
  if (!limit || value === null || value === undefined) return false;
  return (limit.max !== undefined && value > limit.max) || (limit.min !== undefined && value < limit.min);
}
