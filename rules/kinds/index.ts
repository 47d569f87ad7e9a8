/** The rule kinds, by name. A new kind is one file in this folder plus one line here. */
import { baselineKind } from './baseline.ts';
import { flatlineKind } from './flatline.ts';
import { intensityKind } from './intensity.ts';
import { limitKind } from './limit.ts';
import { qualityKind } from './quality.ts';
import { rateKind } from './rate.ts';
import { repeatedKind } from './repeated.ts';
import { staleKind } from './stale.ts';
import { sustainedKind } from './sustained.ts';

export const RULE_KINDS = {
  limit: limitKind,
  sustained: sustainedKind,
  repeated: repeatedKind,
  rate: rateKind,
  stale: staleKind,
  flatline: flatlineKind,
  quality: qualityKind,
  baseline: baselineKind,
  intensity: intensityKind,
} as const;

export type RuleKindName = keyof typeof RULE_KINDS;
