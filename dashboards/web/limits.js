// PROVISIONAL discharge limits for the demo industries, only to draw a reference on the tiles. Real limits depend on
// the plant's permit, new/existing status, discharge route and region (see shared/reference/limits-and-baselines.md);
// they belong in a versioned catalog on the server, which the rules stage will provide. Concentrations in mg/L.
export const PROVISIONAL_LIMITS = {
  // GB 3544-2008 table 2, integrated pulp and paper mill.
  'pulp-paper': { cod: { max: 90 }, nh3n: { max: 8 }, ph: { min: 6, max: 9 } },
  // GB 4287-2012 direct discharge, new plants (commonly quoted, unverified).
  'textile-dyeing': { cod: { max: 80 }, nh3n: { max: 10 }, ph: { min: 6, max: 9 } },
  // GB 13456-2012 direct discharge, new plants (commonly quoted, unverified).
  steel: { cod: { max: 50 }, nh3n: { max: 5 }, ph: { min: 6, max: 9 } },
};

/** { min?, max? } for the plant's industry and quantity, or undefined. */
export function limitFor(industry, quantity) {
  return PROVISIONAL_LIMITS[industry]?.[quantity];
}

export function exceeds(limit, value) {
  if (!limit || value === null || value === undefined) return false;
  return (limit.max !== undefined && value > limit.max) || (limit.min !== undefined && value < limit.min);
}
