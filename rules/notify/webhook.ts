/**
 * Webhooks to regulators' endpoints: each alert transition that a route selects (by the plant's region, the alert's
 * severity and the kind of transition) is POSTed as JSON to the route's URL with
 *
 *   X-Cleanstream-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes with the route's secret>
 *   Idempotency-Key: <alert id>:<transition>          (":<count>" appended for updated/renotified, which recur)
 *
 * Delivery is at least once: a notification is appended (fsync'd) to the route's own outbox on disk (core's DiskQueue)
 * before it counts as emitted, and removed only after a 2xx. A route that fails retries with exponential backoff and
 * equal jitter (core/backoff.ts: half of each step random), waiting at least what a Retry-After asks but never more
 * than retry.maxDelayMs, up to maxAttempts; then, or at once on a 4xx that retrying cannot fix, the
 * notification is moved to the route's dead-letter file and reported, never dropped silently. One queue per route,
 * so a regulator whose endpoint is down does not hold up another's. The receiver deduplicates on Idempotency-Key.
 */
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { configPathSchema, durationMs, httpUrlSchema, idSchema } from '../../core/config.ts';
import { DiskQueue } from '../../core/disk-queue.ts';
import { ConfigError, TransportError } from '../../core/errors.ts';
import type { PlantRegistry } from '../../core/plants.ts';
import { SEVERITIES, type AlertTransition, type TransitionKind } from '../alerts.ts';
import { backoffDelay, parseRetryAfter, retryableStatus } from '../../core/backoff.ts';

const TRANSITIONS = ['raised', 'updated', 'renotified', 'escalated', 'acknowledged', 'cleared'] as const satisfies readonly TransitionKind[];

export const webhookRouteSchema = z.strictObject({
  id: idSchema,
  url: httpUrlSchema,
  /** Name of the environment variable holding the HMAC secret (the secret itself never sits in a config file). */
  secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected an environment variable name' }),
  /** Plants in these regions (plant registry); omitted: every region. */
  regions: z.array(idSchema).min(1).optional(),
  /** This severity and above (warning < minor < major < critical). */
  minSeverity: z.enum(SEVERITIES).default('warning'),
  transitions: z.array(z.enum(TRANSITIONS)).min(1).default(['raised', 'escalated', 'acknowledged', 'cleared']),
  timeoutMs: durationMs.default(10_000),
  retry: z
    .strictObject({
      initialDelayMs: durationMs.default(1_000),
      maxDelayMs: durationMs.default(300_000),
      /** Attempts in all (the first included) before the notification goes to the dead-letter file. */
      maxAttempts: z.number().int().positive().default(12),
    })
    .prefault({}),
});
export type WebhookRoute = z.output<typeof webhookRouteSchema>;

export const notifyConfigSchema = z
  .strictObject({
    /** Folder of the outboxes (relative to the config file); one sub-folder per route. Required with webhooks. */
    outboxDir: configPathSchema.optional(),
    /** Bound on each route's outbox on disk; past it new notifications are refused and reported. */
    outboxMaxBytes: z.number().int().positive().default(64 * 1024 * 1024),
    webhooks: z.array(webhookRouteSchema).default([]),
  })
  .superRefine((n, ctx) => {
    if (n.webhooks.length && !n.outboxDir) ctx.addIssue({ code: 'custom', path: ['outboxDir'], message: 'expected a folder for the webhook outboxes (undelivered notifications survive restarts there)' });
    const seen = new Set<string>();
    n.webhooks.forEach((w, i) => {
      if (seen.has(w.id)) ctx.addIssue({ code: 'custom', path: ['webhooks', i, 'id'], message: `expected a unique route id, ${w.id} is used twice` });
      seen.add(w.id);
    });
  });
export type NotifyConfig = z.output<typeof notifyConfigSchema>;

/** The JSON body POSTed for one transition. */
export interface WebhookBody {
  idempotencyKey: string;
  transition: TransitionKind;
  region: string | null;
  alert: AlertTransition['alert'];
}

export function idempotencyKey(t: AlertTransition): string {
  const recurring = t.transition === 'updated' || t.transition === 'renotified';
  return `${t.alert.id}:${t.transition}${recurring ? `:${t.alert.count}` : ''}`;
}

export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface RouteStats {
  delivered: number;
  attempts: number;
  failedAttempts: number;
  deadLettered: number;
  refused: number;
  pending: number;
}

export interface WebhookEvents {
  delivered: [info: { route: string; key: string; attempts: number }];
  retry: [info: { route: string; key: string; attempt: number; delayMs: number; reason: string }];
  deadLetter: [info: { route: string; key: string; attempts: number; reason: string }];
  error: [err: Error];
}

interface OutboxRecord {
  key: string;
  body: string;
}

const SEVERITY_RANK = new Map(SEVERITIES.map((s, i) => [s, i]));

class RouteSender {
  readonly stats: RouteStats = { delivered: 0, attempts: 0, failedAttempts: 0, deadLettered: 0, refused: 0, pending: 0 };
  private running = true;
  /** Set by append: there may be something to read (covers an append landing between a read and the sleep). */
  private signalled = false;
  private wake: (() => void) | undefined;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    readonly route: WebhookRoute,
    private readonly secret: string,
    readonly queue: DiskQueue,
    private readonly events: EventEmitter<WebhookEvents>,
    private readonly random: () => number,
  ) {
    this.stats.pending = queue.length;
  }

  start(): void {
    this.loop = this.run();
  }

  async append(records: OutboxRecord[]): Promise<void> {
    try {
      await this.queue.append(records.map((r) => Buffer.from(JSON.stringify(r))));
    } catch (err) {
      this.stats.refused += records.length;
      this.events.emit('error', new TransportError('WEBHOOK_OUTBOX', `route ${this.route.id}: ${records.length} notifications not queued: ${(err as Error).message}`, false, { route: this.route.id }, { cause: err }));
      return;
    }
    this.stats.pending = this.queue.length;
    this.signalled = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    await this.queue.close();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).finally(() => (this.wake = undefined));
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.signalled = false;
      let batch;
      try {
        batch = await this.queue.read(1);
      } catch (err) {
        if (!this.running) return;
        this.events.emit('error', err as Error);
        await this.sleep(1_000);
        continue;
      }
      const rec = batch[0];
      if (!rec) {
        if (!this.signalled) await this.sleep(60_000);
        continue;
      }
      const parsed = JSON.parse(rec.data.toString('utf8')) as OutboxRecord;
      const done = await this.deliver(parsed);
      if (!done) {
        // stopped mid-retry: it stays in the outbox for the next start
        this.queue.rewind();
        return;
      }
      await this.queue.ack(rec.id);
      this.stats.pending = this.queue.length;
    }
  }

  /** True when the record is finished with (delivered or dead-lettered); false when stopped before that. */
  private async deliver(rec: OutboxRecord): Promise<boolean> {
    const { retry } = this.route;
    for (let attempt = 1; this.running; attempt++) {
      this.stats.attempts++;
      const outcome = await this.attempt(rec);
      if (outcome.ok) {
        this.stats.delivered++;
        this.events.emit('delivered', { route: this.route.id, key: rec.key, attempts: attempt });
        return true;
      }
      this.stats.failedAttempts++;
      if (!outcome.retryable || attempt >= retry.maxAttempts) {
        await this.deadLetter(rec, attempt, outcome.reason);
        return true;
      }
      const delayMs = backoffDelay({ initialMs: retry.initialDelayMs, maxMs: retry.maxDelayMs, jitter: 0.5 }, attempt, this.random, outcome.retryAfterMs);
      this.events.emit('retry', { route: this.route.id, key: rec.key, attempt, delayMs, reason: outcome.reason });
      await this.sleep(delayMs);
    }
    return false;
  }

  private async attempt(rec: OutboxRecord): Promise<{ ok: true } | { ok: false; retryable: boolean; reason: string; retryAfterMs?: number }> {
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.route.timeoutMs)]);
    try {
      const res = await fetch(this.route.url, {
        method: 'POST',
        body: rec.body,
        headers: {
          'content-type': 'application/json',
          'idempotency-key': rec.key,
          'x-cleanstream-signature': signBody(this.secret, rec.body),
          'user-agent': 'cleanstream-rules',
        },
        signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true };
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
      return { ok: false, retryable: retryableStatus(res.status), reason: `HTTP ${res.status}`, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    } catch (err) {
      return { ok: false, retryable: true, reason: (err as Error).message };
    }
  }

  private async deadLetter(rec: OutboxRecord, attempts: number, reason: string): Promise<void> {
    const file = path.join(this.queue.dir, 'dead-letters.ndjson');
    try {
      await appendFile(file, `${JSON.stringify({ at: new Date().toISOString(), route: this.route.id, url: this.route.url, attempts, reason, key: rec.key, body: rec.body })}\n`);
    } catch (err) {
      this.events.emit('error', err as Error);
    }
    this.stats.deadLettered++;
    this.events.emit('deadLetter', { route: this.route.id, key: rec.key, attempts, reason });
  }
}

export interface WebhookNotifierOptions {
  registry?: PlantRegistry | undefined;
  env?: NodeJS.ProcessEnv;
  /** For tests: the jitter source. */
  random?: () => number;
  /** Name of the config (for errors about missing secrets). */
  source?: string;
}

export class WebhookNotifier extends EventEmitter<WebhookEvents> {
  private constructor(
    private readonly senders: RouteSender[],
    private readonly registry: PlantRegistry | undefined,
  ) {
    super();
  }

  /** Open each route's outbox (what a previous run left undelivered is sent first) and start sending. */
  static async open(config: NotifyConfig, opts: WebhookNotifierOptions = {}): Promise<WebhookNotifier> {
    const env = opts.env ?? process.env;
    const missing = config.webhooks.flatMap((w, i) => (env[w.secretEnv] ? [] : [{ path: `notify.webhooks[${i}].secretEnv`, expected: `environment variable ${w.secretEnv} to hold the route's HMAC secret` }]));
    if (missing.length) throw new ConfigError(opts.source ?? 'rules config', missing);
    const events = new EventEmitter<WebhookEvents>();
    const senders: RouteSender[] = [];
    for (const route of config.webhooks) {
      const queue = await DiskQueue.open({ dir: path.join(config.outboxDir!, route.id), maxBytes: config.outboxMaxBytes });
      queue.on('error', (err) => events.emit('error', err));
      senders.push(new RouteSender(route, env[route.secretEnv]!, queue, events, opts.random ?? Math.random));
    }
    const notifier = new WebhookNotifier(senders, opts.registry);
    for (const name of ['delivered', 'retry', 'deadLetter', 'error'] as const) {
      events.on(name, (...args: unknown[]) => (notifier.emit as (n: string, ...a: unknown[]) => boolean)(name, ...args));
    }
    for (const s of senders) s.start();
    return notifier;
  }

  get routes(): number {
    return this.senders.length;
  }

  /** Queue the transitions each route selects; resolves once they are on disk. */
  async enqueue(transitions: readonly AlertTransition[]): Promise<void> {
    if (!this.senders.length || !transitions.length) return;
    await Promise.all(
      this.senders.map((s) => {
        const records: OutboxRecord[] = [];
        for (const t of transitions) {
          const region = this.registry?.plant(t.alert.plant)?.region ?? null;
          if (!selects(s.route, t, region)) continue;
          const key = idempotencyKey(t);
          const body: WebhookBody = { idempotencyKey: key, transition: t.transition, region, alert: t.alert };
          records.push({ key, body: JSON.stringify(body) });
        }
        return records.length ? s.append(records) : undefined;
      }),
    );
  }

  stats(): Record<string, RouteStats> {
    return Object.fromEntries(this.senders.map((s) => [s.route.id, { ...s.stats, pending: s.queue.length }]));
  }

  /** Stop sending; what is not delivered stays in the outboxes. */
  async stop(): Promise<void> {
    await Promise.all(this.senders.map((s) => s.stop()));
  }
}

export function selects(route: WebhookRoute, t: AlertTransition, region: string | null): boolean {
  if (!route.transitions.includes(t.transition)) return false;
  if ((SEVERITY_RANK.get(t.alert.severity) ?? 0) < (SEVERITY_RANK.get(route.minSeverity) ?? 0)) return false;
  if (route.regions && (region === null || !route.regions.includes(region))) return false;
  return true;
}
