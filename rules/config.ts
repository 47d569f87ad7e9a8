/**
 * The rules service's config file (YAML; see rules/sample.yaml). A rule is declarative data: an id, a kind
 * (rules/kinds/), a severity, a selector saying which series it watches, the kind's own parameters next to those,
 * and optionally an escalation. Errors name the file, the field path (`rules[2].limit.max`) and what was expected.
 */
import { z } from 'zod';
import { configPathSchema, durationMs, idSchema, influxConnectionSchema, loadConfigFile, mqttConnectionSchema, parseConfig, quantityIdSchema, sessionExpirySecondsSchema, zodIssues, catalogPathSchema } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import type { QuantityId } from '../core/catalog.ts';
import { INDUSTRIES } from '../core/plants.ts';
import { SEVERITIES } from './alerts.ts';
import { RULE_KINDS, type RuleKindName } from './kinds/index.ts';
import { thresholdIssues, type ClearSpec, type LimitSpec } from './kinds/threshold.ts';
import { notifyConfigSchema } from './notify/webhook.ts';

const KIND_NAMES = Object.keys(RULE_KINDS) as [RuleKindName, ...RuleKindName[]];

export const selectorSchema = z.strictObject({
  /** Any of these plants (ids); omitted: every plant. */
  plants: z.array(idSchema).min(1).optional(),
  industries: z.array(z.enum(INDUSTRIES)).min(1).optional(),
  regions: z.array(idSchema).min(1).optional(),
  /** Any of these meters (ids); omitted: every meter that measures the quantity. */
  meters: z.array(idSchema).min(1).optional(),
  /** Required by every kind but `stale`, which without it watches a whole meter. */
  quantity: quantityIdSchema.transform((q) => q as QuantityId).optional(),
});
export type Selector = z.output<typeof selectorSchema>;

const ruleBase = {
  id: idSchema,
  kind: z.enum(KIND_NAMES),
  severity: z.enum(SEVERITIES),
  description: z.string().optional(),
  selector: selectorSchema,
  /** Not acknowledged within afterMs (processing time): severity goes up one step, or to `to`. */
  escalate: z.strictObject({ afterMs: durationMs, to: z.enum(SEVERITIES).optional() }).optional(),
  enabled: z.boolean().default(true),
};
const BASE_KEYS = new Set(Object.keys(ruleBase));

type Base = z.output<z.ZodObject<typeof ruleBase>>;
type ParamsOf<K extends RuleKindName> = z.output<(typeof RULE_KINDS)[K]['params']>;
/** A validated rule: the common fields plus its kind's parameters. */
export type RuleConfig = { [K in RuleKindName]: Base & { kind: K; params: ParamsOf<K> } }[RuleKindName];

export const ruleSchema = z.looseObject(ruleBase).transform((raw, ctx): RuleConfig => {
  const kind = RULE_KINDS[raw.kind];
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!BASE_KEYS.has(k)) rest[k] = v;
  const parsed = kind.params.safeParse(rest);
  if (!parsed.success) {
    // The kind's issues keep their codes and paths, so the error reads as if the rule were one schema.
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, input: undefined } as z.core.$ZodRawIssue);
    return z.NEVER;
  }
  const base: Base = {
    id: raw.id,
    kind: raw.kind,
    severity: raw.severity,
    selector: raw.selector,
    enabled: raw.enabled,
    ...(raw.description !== undefined ? { description: raw.description } : {}),
    ...(raw.escalate !== undefined ? { escalate: raw.escalate } : {}),
  };
  return { ...base, kind: raw.kind, params: parsed.data } as RuleConfig;
});

/** Checks across fields and rules: unique ids, a quantity where the kind needs one, clear levels inside the limit. */
export const rulesListSchema = z
  .array(ruleSchema)
  .min(1)
  .superRefine((rules, ctx) => {
    const seen = new Map<string, number>();
    rules.forEach((rule, i) => {
      const first = seen.get(rule.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `expected a unique rule id, ${rule.id} is also rules[${first}]` });
      seen.set(rule.id, i);
      if (RULE_KINDS[rule.kind].needsQuantity && !rule.selector.quantity) {
        ctx.addIssue({ code: 'custom', path: [i, 'selector', 'quantity'], message: `expected the quantity a ${rule.kind} rule judges` });
      }
      if (rule.kind === 'limit' || rule.kind === 'sustained') {
        const p = rule.params as { limit: LimitSpec; clear?: ClearSpec };
        for (const issue of thresholdIssues(p.limit, p.clear)) ctx.addIssue({ code: 'custom', path: [i, ...issue.path], message: issue.message });
      }
    });
  });

export const rulesConfigSchema = z
  .strictObject({
    mqtt: mqttConnectionSchema,
    /** Fixed, so that the broker keeps this consumer's session while it restarts. */
    /** A plant's own quantities (core/catalog-file.ts), relative to this config file; the built-in catalog without it. */
    catalog: catalogPathSchema,
    clientId: z.string().min(1).max(128).default('cleanstream-rules'),
    /** MQTT 5 only: how long the broker keeps this client's session (and queues its readings) after a disconnect. */
    sessionExpirySeconds: sessionExpirySecondsSchema,
    subscription: z.string().min(1).optional(),
    /**
     * This process judges only a partition of the plants (rules/partition.ts): `{ index, count }` by a stable hash of
     * the plant id, or `{ plants: [...] }`. It subscribes per plant; its client id and checkpoint file get the
     * partition's name (`-p0of2`, `.p0of2`) so that partitions never share a session or a checkpoint.
     */
    partition: z
      .union([
        z.strictObject({ index: z.number().int().nonnegative(), count: z.number().int().positive() }).refine((p) => p.index < p.count, { path: ['index'], message: 'expected an index below count' }),
        z.strictObject({ plants: z.array(idSchema).min(1) }),
      ])
      .optional(),
    influx: influxConnectionSchema,
    /** Plant registry file (relative to this config file): industries, categories and regions for selectors and limits. */
    plants: configPathSchema.optional(),
    /** Extra limits files or folders (relative to this config file): permits, provincial standards, overrides. */
    limits: z.array(configPathSchema).default([]),
    /** Load the standards shipped in rules/limits/standards/. */
    builtinLimits: z.boolean().default(true),
    eventTime: z
      .strictObject({
        /** How far behind the newest reading of a series a reading may arrive and still be judged in order. */
        allowedLatenessMs: z.number().int().nonnegative().default(5_000),
        /** A series with no arrival for this long stops waiting for stragglers (its watermark catches up). */
        idleFlushMs: durationMs.default(10_000),
        /** A batch ahead of its gateway's next seq waits this long (processing time) for the ones before it. */
        reorderWaitMs: durationMs.default(2_000),
        /** Batches held back per gateway at most while waiting for a gap to fill. */
        reorderMaxPending: z.number().int().positive().default(10_000),
      })
      .prefault({}),
    /** Processing-time tick: deadman rules, escalation, idle series. */
    tickMs: durationMs.default(1_000),
    checkpoint: z
      .strictObject({
        /** Where window and alert state is kept across restarts (relative to this config file); none: not kept. */
        file: configPathSchema.optional(),
        intervalMs: durationMs.default(10_000),
        /**
         * Readings are acknowledged to the broker only once a checkpoint covers them; past this many unacknowledged
         * messages a checkpoint is taken early. Brokers cap unacknowledged deliveries per client (Mosquitto's
         * max_inflight_messages, 20 by default): set it above this, or 0 (unlimited).
         */
        maxUnackedMessages: z.number().int().positive().default(10_000),
        /**
         * Incremental checkpoints (rules/checkpoint.ts): after a full one, up to this many deltas holding only the
         * series changed since the checkpoint before; then a full one again (sooner when the deltas together have
         * grown as large as it). 0: every checkpoint full.
         */
        deltas: z.number().int().nonnegative().default(8),
      })
      .prefault({}),
    /**
     * Baselines and reductions, computed from InfluxDB history and written back to it (`baselines`, `reductions`).
     * Static baselines come from files (relative to this config file) and the shipped rules/baselines/.
     */
    history: z
      .strictObject({
        enabled: z.boolean().default(false),
        everyMs: durationMs.default(3_600_000),
        baselineFiles: z.array(configPathSchema).default([]),
        builtinBaselines: z.boolean().default(true),
        /** Learned baselines: the percentile of each quantity over the last `days` days, per plant. */
        learn: z.strictObject({ quantities: z.array(quantityIdSchema).min(1), days: z.number().positive().default(30), percentile: z.number().int().min(1).max(99).default(50) }).optional(),
        reductions: z.boolean().default(true),
        /**
         * Alert history (InfluxDB `alerts`): at most one row per this much event time for the re-triggers of an open
         * alert, plus one for each new peak; raise, acknowledgement, escalation and clear always have theirs.
         */
        retriggerRowIntervalMs: durationMs.default(300_000),
      })
      .prefault({}),
    /** Webhooks to regulators (the retained alert topic is always published). */
    notify: notifyConfigSchema.prefault({}),
    rules: rulesListSchema,
  });

export type RulesConfig = z.output<typeof rulesConfigSchema>;
export type RulesConfigInput = z.input<typeof rulesConfigSchema>;

/** Validate rules given in code (tests, `cleanstream up`) with the same errors as a file. */
export function parseRules(source: string, rules: unknown[]): RuleConfig[] {
  return parseConfig(source, { rules }, z.strictObject({ rules: rulesListSchema })).rules;
}

/** Load and validate a config file; paths in it are resolved relative to the file. Throws ConfigError. */
/** Configs that came out of the schema: their rules are compiled (kind parameters under `params`) and must not be parsed again. */
const parsedConfigs = new WeakSet<object>();

export function isParsedRulesConfig(config: object): config is RulesConfig {
  return parsedConfigs.has(config);
}

/** Validate a config given as an object (tests, `up`) with the same errors as a file. */
export function parseRulesConfig(input: RulesConfig | RulesConfigInput): RulesConfig {
  if (isParsedRulesConfig(input)) return input;
  const result = rulesConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError('rules config', zodIssues(result.error));
  parsedConfigs.add(result.data);
  return result.data;
}

export function loadRulesConfig(file: string, env: NodeJS.ProcessEnv = process.env): RulesConfig {
  const config = loadConfigFile(file, rulesConfigSchema, env);
  parsedConfigs.add(config);
  return config;
}
