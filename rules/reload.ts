/**
 * The engine in force and its replacement by a reload: new rules (and limits and baseline files) take over without
 * losing state (RulesEngine.restore), removed rules' open alerts are cleared on their topics, and settings that only
 * a restart applies are named.
 */
import type { Alert, AlertTransition } from './alerts.ts';
import { BUILTIN_BASELINES_DIR, loadBaselines, loadEnergyCoefficients, type BaselineBook } from './baselines.ts';
import { parseRulesConfig, type RulesConfig, type RulesConfigInput } from './config.ts';
import { RulesEngine, type LateReading } from './engine.ts';
import { BUILTIN_STANDARDS_DIR, loadLimitsCatalog, type LimitsCatalog } from './limits/catalog.ts';
import type { PlantRegistry } from '../core/plants.ts';

/** What a reload changed (RulesService.reload). */
export interface RulesReload {
  added: string[];
  removed: string[];
  /** Rules whose definition changed: their window state starts afresh; their open alerts stay open. */
  changed: string[];
  /** Operator states not carried over (rules removed or changed); open alerts of removed rules (cleared on their topics). */
  droppedOps: number;
  droppedAlerts: number;
  /** Settings that differ but take effect only at the next start (connections, checkpoint, partition...). */
  restartNeeded: string[];
}

/** Settings a reload does not apply: the process must be restarted for them. */
const RESTART_ONLY = ['mqtt', 'clientId', 'subscription', 'influx', 'plants', 'eventTime', 'checkpoint', 'partition', 'tickMs', 'notify', 'history'] as const satisfies readonly (keyof RulesConfig)[];

/** The limits catalog a config names (built-in standards unless turned off, then its own files): read at start and at each reload. */
function limitsOf(config: RulesConfig): LimitsCatalog {
  return loadLimitsCatalog([...(config.builtinLimits ? [BUILTIN_STANDARDS_DIR] : []), ...config.limits]);
}

/** The static baselines a config names: read at start and at each reload. */
function baselinesOf(config: RulesConfig): BaselineBook {
  return loadBaselines([...(config.history.builtinBaselines ? [BUILTIN_BASELINES_DIR] : []), ...config.history.baselineFiles]);
}

export interface LiveRulesParts {
  registry: PlantRegistry | undefined;
  clock: () => number;
  onTransition: (t: AlertTransition) => void;
  onLate: (late: LateReading) => void;
}

export class LiveRules {
  private current: RulesEngine;
  private rulesNow: RulesConfig['rules'];
  private baselinesNow: BaselineBook;
  private readonly energy = loadEnergyCoefficients();

  constructor(
    private readonly config: RulesConfig,
    private readonly parts: LiveRulesParts,
  ) {
    this.baselinesNow = baselinesOf(config);
    this.current = this.engineFor(config.rules, limitsOf(config), this.baselinesNow);
    this.rulesNow = config.rules;
  }

  get engine(): RulesEngine {
    return this.current;
  }

  /** The static baselines in force (history jobs write them). */
  get baselines(): BaselineBook {
    return this.baselinesNow;
  }

  /**
   * Swap in the rules of `input`. `settled` waits until nothing holds the engine (a checkpoint being taken belongs
   * to the engine it began on); from there to the swap nothing else runs, so no reading is judged between the
   * snapshot and the restore; `swapped` is told in the same turn.
   */
  async reload(input: RulesConfig | RulesConfigInput, hooks: { settled: () => Promise<void>; swapped: () => void }): Promise<RulesReload> {
    const next = parseRulesConfig(input);
    const config = this.config;
    // baseline files are reloaded with the rules; the rest of `history` is not
    const comparable = (c: RulesConfig, key: (typeof RESTART_ONLY)[number]): string => JSON.stringify(key === 'history' ? { ...c.history, baselineFiles: [], builtinBaselines: false } : c[key]);
    const restartNeeded = RESTART_ONLY.filter((key) => comparable(next, key) !== comparable(config, key));
    const nextLimits = limitsOf(next);
    const nextBaselines = baselinesOf(next);
    await hooks.settled();
    const fresh = this.engineFor(next.rules, nextLimits, nextBaselines);
    const dropped = fresh.restore(this.current.snapshot());
    const before = new Map(this.rulesNow.map((r) => [r.id, JSON.stringify(r)]));
    const after = new Map(next.rules.map((r) => [r.id, JSON.stringify(r)]));
    // the open alerts of a removed rule are cleared, not left raised on their topics for ever
    const now = this.parts.clock();
    for (const a of this.current.openAlerts()) {
      if (after.has(a.rule)) continue;
      const cleared: Alert = { ...a, state: 'cleared', clearedAt: now, updatedAt: Math.max(a.updatedAt, now), message: { en: `Cleared (rule ${a.rule} removed): ${a.message.en}`, zh: `已恢复（规则 ${a.rule} 已删除）：${a.message.zh}` } };
      this.parts.onTransition({ transition: 'cleared', alert: cleared });
    }
    this.current = fresh;
    this.rulesNow = next.rules;
    this.baselinesNow = nextBaselines;
    hooks.swapped();
    return {
      added: [...after.keys()].filter((id) => !before.has(id)),
      removed: [...before.keys()].filter((id) => !after.has(id)),
      changed: [...after.keys()].filter((id) => before.has(id) && before.get(id) !== after.get(id)),
      ...dropped,
      restartNeeded,
    };
  }

  private engineFor(rules: RulesConfig['rules'], limits: LimitsCatalog, baselines: BaselineBook): RulesEngine {
    const { config, parts } = this;
    return new RulesEngine({
      rules,
      limits,
      baselines,
      energy: this.energy,
      ...(parts.registry ? { registry: parts.registry } : {}),
      allowedLatenessMs: config.eventTime.allowedLatenessMs,
      idleFlushMs: config.eventTime.idleFlushMs,
      clock: parts.clock,
      retriggerRowIntervalMs: config.history.retriggerRowIntervalMs,
      onTransition: parts.onTransition,
      onLate: parts.onLate,
    });
  }
}
