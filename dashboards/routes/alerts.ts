/**
 * Alerts, scoped to the caller's plants:
 *
 *   GET  /api/alerts                 current alerts (default: open ones) from the retained alert topics, filtered
 *   GET  /api/alerts/history         transitions from InfluxDB's `alerts` measurement (written by the rules stage)
 *   GET  /api/alerts/:id             one alert's current state
 *   POST /api/alerts/:id/ack         acknowledge with a comment: forwarded to the rules stage on the alert-ack topic
 *
 * Anyone who may see the plant may acknowledge its alerts: its operator, the regulator of its region, an admin.
 * Acknowledging is the rules stage's decision (it owns the alert's lifecycle): the route forwards the request and
 * waits briefly for the alert's new state, answering 200 with it, or 202 when rules has not confirmed in time.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlantRegistry } from '../../core/plants.ts';
import { ALERT_STATES, SEVERITIES, type Alert, type Severity } from '../../core/alert.ts';
import { filterAlerts, slotOfAlertId, type StateFilter } from '../alerts.ts';
import { callerOf, HttpError, plantForCaller, plantsForCaller } from '../auth.ts';
import { seriesRows, type InfluxClient } from '../../influxdb/client.ts';
import { ALERTS_MEASUREMENT, quoteIdentifier, quoteStringLiteral, tagIn } from '../../influxdb/schema.ts';
import { badParameter, checkedWindow, checkInstant, instantSchema } from '../params.ts';
import type { LiveFeed } from '../live-feed.ts';
import { idString, localizedName, nullableNumber, tokenParam } from './schemas.ts';

export const alertSchema = {
  type: 'object',
  required: ['id', 'rule', 'plant', 'meter', 'quantity', 'severity', 'state', 'raisedAt', 'updatedAt', 'value', 'limit', 'count', 'escalated', 'message'],
  properties: {
    id: { type: 'string' },
    rule: idString,
    plant: idString,
    meter: idString,
    quantity: { type: ['string', 'null'] },
    severity: { type: 'string', enum: SEVERITIES },
    state: { type: 'string', enum: ALERT_STATES },
    raisedAt: { type: 'integer' },
    updatedAt: { type: 'integer' },
    clearedAt: { type: 'integer' },
    ackedAt: { type: 'integer' },
    ackedBy: { type: 'string' },
    comment: { type: 'string' },
    value: nullableNumber,
    limit: nullableNumber,
    bound: { type: ['string', 'null'], enum: ['min', 'max', null], description: 'which bound limit is: a floor the value fell below (min) or a ceiling it rose above (max)' },
    unit: { type: ['string', 'null'], description: 'the unit of value, limit and peak (pH is not printed after a number); null for a count' },
    count: { type: 'integer' },
    peak: nullableNumber,
    escalated: { type: 'boolean' },
    message: localizedName,
  },
} as const;

const SEVERITY_LIST = `^(${SEVERITIES.join('|')})(,(${SEVERITIES.join('|')}))*$`;
const STATE_FILTERS = ['open', ...ALERT_STATES, 'all'] as const;
/** Rows per history answer at most. */
export const MAX_HISTORY_ROWS = 1000;
const DEFAULT_HISTORY_MS = 7 * 86_400_000;

const alertIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 300, description: 'alert id as published by the rules stage: rule.plant.meter.raisedAt' } },
  additionalProperties: false,
} as const;

interface AlertsQuery {
  plant?: string;
  region?: string;
  state?: StateFilter;
  severity?: string;
  from?: number;
  to?: number;
}

interface HistoryQuery {
  plant?: string;
  region?: string;
  rule?: string;
  severity?: string;
  id?: string;
  from?: number;
  to?: number;
  limit?: number;
}

export interface HistoryRequest {
  plants: readonly string[];
  from: number;
  to: number;
  rule?: string;
  severities?: readonly Severity[];
  id?: string;
  limit: number;
}

/** The newest transitions first; tags are selected next to the fields (InfluxQL allows that with at least one field). */
export function historyStatement(req: HistoryRequest): string {
  const where = [tagIn('plant', req.plants), `time >= ${req.from}ms`, `time < ${req.to}ms`];
  if (req.rule !== undefined) where.push(`"rule" = ${quoteStringLiteral(req.rule)}`);
  if (req.severities?.length) where.push(tagIn('severity', req.severities));
  if (req.id !== undefined) where.push(`"id" = ${quoteStringLiteral(req.id)}`);
  return (
    `SELECT "id", "state", "transition", "value", "limit", "count", "peak", "by", "comment", "plant", "rule", "meter", "severity" FROM ${quoteIdentifier(ALERTS_MEASUREMENT)}` +
    ` WHERE ${where.join(' AND ')} ORDER BY time DESC LIMIT ${req.limit}`
  );
}

export interface HistoryRow {
  time: number;
  id: string;
  plant: string;
  rule: string;
  meter: string;
  severity: string;
  state: string;
  transition: string;
  value: number | null;
  limit: number | null;
  count: number | null;
  peak: number | null;
  by: string | null;
  comment: string | null;
  /** Since the alert was raised (its id says when). */
  sinceRaisedMs: number | null;
}

/** One alert's way from raise to acknowledgement to clear, as far as the rows returned show it. */
export interface Lifecycle {
  id: string;
  plant: string;
  rule: string;
  meter: string;
  severity: string;
  raisedAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  comment: string | null;
  clearedAt: number | null;
  /** Raise to acknowledgement, raise to clear, acknowledgement to clear; null until it happened. */
  toAcknowledgeMs: number | null;
  toClearMs: number | null;
  acknowledgedToClearMs: number | null;
  /** The newest row's count and peak. */
  count: number | null;
  peak: number | null;
  rows: number;
}

/** Lifecycles of the alerts among the rows (newest rows first, as the history answers), the most recently raised first. */
export function lifecyclesOf(rows: readonly HistoryRow[]): Lifecycle[] {
  const byId = new Map<string, Lifecycle>();
  for (const row of rows) {
    const raisedAt = slotOfAlertId(row.id)?.raisedAt ?? (row.transition === 'raised' ? row.time : null);
    if (raisedAt === null) continue;
    let life = byId.get(row.id);
    if (!life) {
      life = { id: row.id, plant: row.plant, rule: row.rule, meter: row.meter, severity: row.severity, raisedAt, acknowledgedAt: null, acknowledgedBy: null, comment: null, clearedAt: null, toAcknowledgeMs: null, toClearMs: null, acknowledgedToClearMs: null, count: row.count, peak: row.peak, rows: 0 };
      byId.set(row.id, life);
    }
    life.rows++;
    if (row.transition === 'acknowledged') {
      life.acknowledgedAt = row.time;
      life.acknowledgedBy = row.by;
      life.comment = row.comment;
    } else if (row.transition === 'cleared') {
      life.clearedAt = row.time;
    }
  }
  for (const life of byId.values()) {
    if (life.acknowledgedAt !== null) life.toAcknowledgeMs = life.acknowledgedAt - life.raisedAt;
    if (life.clearedAt !== null) life.toClearMs = life.clearedAt - life.raisedAt;
    if (life.acknowledgedAt !== null && life.clearedAt !== null) life.acknowledgedToClearMs = life.clearedAt - life.acknowledgedAt;
  }
  return [...byId.values()].sort((a, b) => b.raisedAt - a.raisedAt);
}

const numberOrNull = (x: unknown): number | null => (typeof x === 'number' ? x : null);
const stringOrNull = (x: unknown): string | null => (typeof x === 'string' ? x : null);

const severitiesOf = (text: string | undefined): Severity[] | undefined => (text === undefined ? undefined : (text.split(',') as Severity[]));

export interface AlertRouteOptions {
  registry: PlantRegistry;
  feed: LiveFeed;
  influx: InfluxClient;
  /** How long POST …/ack waits for the rules stage to confirm (default 3 s). */
  ackWaitMs?: number;
  now?: () => number;
}

export const alertRoutes: FastifyPluginAsync<AlertRouteOptions> = async (app, { registry, feed, influx, ackWaitMs = 3000, now = Date.now }) => {
  app.get<{ Querystring: AlertsQuery }>(
    '/alerts',
    {
      schema: {
        summary: 'Current alerts in scope (from the retained alert topics)',
        tags: ['alerts'],
        querystring: {
          type: 'object',
          properties: {
            plant: idString,
            region: idString,
            state: { type: 'string', enum: STATE_FILTERS, default: 'open', description: 'open = raised or acknowledged' },
            severity: { type: 'string', pattern: SEVERITY_LIST, description: 'comma-separated severities' },
            from: instantSchema('changed at or after (ms)'),
            to: instantSchema('raised before (ms)'),
            token: tokenParam,
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', required: ['alerts'], properties: { alerts: { type: 'array', items: alertSchema } } } },
      },
    },
    async (request) => {
      const { plant, region, state = 'open', severity, from, to } = request.query;
      checkInstant('from', from, now());
      checkInstant('to', to, now());
      const plants = plantsForCaller(callerOf(request), registry, { plant, region });
      const severities = severitiesOf(severity);
      return {
        alerts: filterAlerts(feed.alerts.all(), {
          plants: new Set(plants.map((p) => p.id)),
          state,
          ...(severities ? { severities } : {}),
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
        }),
      };
    },
  );

  app.get<{ Querystring: HistoryQuery }>(
    '/alerts/history',
    {
      schema: {
        summary: 'Alert transitions from InfluxDB, newest first',
        tags: ['alerts'],
        querystring: {
          type: 'object',
          properties: {
            plant: idString,
            region: idString,
            rule: idString,
            severity: { type: 'string', pattern: SEVERITY_LIST },
            id: { type: 'string', minLength: 1, maxLength: 300, description: 'one alert\'s transitions' },
            from: instantSchema('ms; default a week before to'),
            to: instantSchema('ms, exclusive; default now'),
            limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_ROWS, default: 200 },
            token: tokenParam,
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['from', 'to', 'transitions', 'lifecycles'],
            properties: {
              from: { type: 'integer' },
              to: { type: 'integer' },
              lifecycles: {
                type: 'array',
                description: 'per alert among the rows: raise → acknowledgement (who, comment) → clear, with durations (ms); null where it has not happened (or is outside the rows returned)',
                items: {
                  type: 'object',
                  required: ['id', 'plant', 'rule', 'meter', 'severity', 'raisedAt', 'acknowledgedAt', 'acknowledgedBy', 'comment', 'clearedAt', 'toAcknowledgeMs', 'toClearMs', 'acknowledgedToClearMs', 'count', 'peak', 'rows'],
                  properties: {
                    id: { type: 'string' },
                    plant: idString,
                    rule: idString,
                    meter: idString,
                    severity: { type: 'string' },
                    raisedAt: { type: 'integer' },
                    acknowledgedAt: { type: ['integer', 'null'] },
                    acknowledgedBy: { type: ['string', 'null'] },
                    comment: { type: ['string', 'null'] },
                    clearedAt: { type: ['integer', 'null'] },
                    toAcknowledgeMs: { type: ['integer', 'null'] },
                    toClearMs: { type: ['integer', 'null'] },
                    acknowledgedToClearMs: { type: ['integer', 'null'] },
                    count: { type: ['integer', 'null'] },
                    peak: nullableNumber,
                    rows: { type: 'integer' },
                  },
                },
              },
              transitions: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['time', 'id', 'plant', 'rule', 'meter', 'severity', 'state', 'transition'],
                  properties: {
                    time: { type: 'integer' },
                    id: { type: 'string' },
                    plant: idString,
                    rule: idString,
                    meter: idString,
                    severity: { type: 'string' },
                    state: { type: 'string' },
                    transition: { type: 'string' },
                    value: nullableNumber,
                    limit: nullableNumber,
                    count: { type: ['integer', 'null'] },
                    peak: nullableNumber,
                    by: { type: ['string', 'null'], description: 'acknowledgement rows: who acknowledged (token name)' },
                    comment: { type: ['string', 'null'], description: 'acknowledgement rows: their comment' },
                    sinceRaisedMs: { type: ['integer', 'null'] },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const caller = callerOf(request);
      let plantFilter = q.plant;
      if (q.id !== undefined) {
        const slot = slotOfAlertId(q.id);
        if (!slot) throw badParameter('id', `${q.id} is not an alert id (rule.plant.meter.raisedAt)`, 'BAD_ALERT_ID');
        plantForCaller(caller, registry, slot.plant);
        if (plantFilter !== undefined && plantFilter !== slot.plant) return { from: 0, to: 0, transitions: [], lifecycles: [] };
        plantFilter = slot.plant;
      }
      const plants = plantsForCaller(caller, registry, { plant: plantFilter, region: q.region });
      const { from, to } = checkedWindow(q, now(), DEFAULT_HISTORY_MS);
      if (plants.length === 0) return { from, to, transitions: [], lifecycles: [] };
      const severities = severitiesOf(q.severity);
      const statement = historyStatement({
        plants: plants.map((p) => p.id),
        from,
        to,
        limit: q.limit ?? 200,
        ...(q.rule !== undefined ? { rule: q.rule } : {}),
        ...(severities ? { severities } : {}),
        ...(q.id !== undefined ? { id: q.id } : {}),
      });
      const [series = []] = await influx.query([statement]);
      const transitions: HistoryRow[] = series
        .flatMap(seriesRows)
        .filter((row) => typeof row.time === 'number' && typeof row.id === 'string')
        .map((row) => {
          const raisedAt = slotOfAlertId(row.id as string)?.raisedAt;
          return {
            time: row.time as number,
            id: row.id as string,
            plant: String(row.plant),
            rule: String(row.rule),
            meter: String(row.meter),
            severity: String(row.severity),
            state: String(row.state),
            transition: String(row.transition),
            value: numberOrNull(row.value),
            limit: numberOrNull(row.limit),
            count: numberOrNull(row.count),
            peak: numberOrNull(row.peak),
            by: stringOrNull(row.by),
            comment: stringOrNull(row.comment),
            sinceRaisedMs: raisedAt === undefined ? null : (row.time as number) - raisedAt,
          };
        });
      return { from, to, transitions, lifecycles: lifecyclesOf(transitions) };
    },
  );

  /** The alert the id names, if the caller may see its plant: 403 outside the scope, 404 when it is not (or no longer) published. */
  function alertForCaller(request: Parameters<typeof callerOf>[0], id: string): Alert {
    const caller = callerOf(request);
    const slot = slotOfAlertId(id);
    if (!slot) throw new HttpError(404, 'UNKNOWN_ALERT', `${id} is not an alert id (rule.plant.meter.raisedAt)`);
    plantForCaller(caller, registry, slot.plant);
    const alert = feed.alerts.byId(id);
    if (!alert) throw new HttpError(404, 'UNKNOWN_ALERT', `no current alert ${id} (it may have been superseded by a later one of the same rule and meter)`, { id });
    return alert;
  }

  app.get<{ Params: { id: string } }>(
    '/alerts/:id',
    {
      schema: {
        summary: 'One alert\'s current state',
        tags: ['alerts'],
        params: alertIdParams,
        querystring: { type: 'object', properties: { token: tokenParam }, additionalProperties: false },
        response: { 200: alertSchema },
      },
    },
    async (request) => alertForCaller(request, request.params.id),
  );

  app.post<{ Params: { id: string }; Body: { comment: string } }>(
    '/alerts/:id/ack',
    {
      schema: {
        summary: 'Acknowledge an alert with a comment (operator of the plant, regulator of its region, admin)',
        tags: ['alerts'],
        params: alertIdParams,
        querystring: { type: 'object', properties: { token: tokenParam }, additionalProperties: false },
        body: {
          type: 'object',
          required: ['comment'],
          properties: { comment: { type: 'string', minLength: 1, maxLength: 1000, pattern: '\\S', description: 'what was done or found' } },
          additionalProperties: false,
        },
        response: {
          200: { type: 'object', required: ['confirmed', 'alert'], properties: { confirmed: { type: 'boolean' }, alert: alertSchema } },
          202: { type: 'object', required: ['confirmed', 'alert'], properties: { confirmed: { type: 'boolean' }, alert: alertSchema } },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const alert = alertForCaller(request, request.params.id);
      if (alert.state === 'cleared') throw new HttpError(409, 'ALERT_CLEARED', `alert ${alert.id} is already cleared`, { id: alert.id });
      if (alert.state === 'acknowledged') throw new HttpError(409, 'ALREADY_ACKNOWLEDGED', `alert ${alert.id} was acknowledged by ${alert.ackedBy ?? 'someone'}`, { id: alert.id });
      const confirmed = waitForAck(feed, alert.id, ackWaitMs);
      try {
        await feed.publishAck({ plant: alert.plant, rule: alert.rule, meter: alert.meter }, { by: caller.name, comment: request.body.comment.trim() });
      } catch (err) {
        confirmed.cancel();
        throw err;
      }
      request.log.info({ alert: alert.id, by: caller.name, role: caller.role }, 'dashboard: acknowledgement forwarded to rules');
      const acked = await confirmed.promise;
      if (acked) return reply.code(200).send({ confirmed: true, alert: acked });
      return reply.code(202).send({ confirmed: false, alert: feed.alerts.byId(alert.id) ?? alert });
    },
  );
};

/** Resolves with the alert once the board shows it acknowledged, or undefined after `ms`. */
function waitForAck(feed: LiveFeed, id: string, ms: number): { promise: Promise<Alert | undefined>; cancel: () => void } {
  let cancel = (): void => {};
  const promise = new Promise<Alert | undefined>((resolve) => {
    const done = (alert: Alert | undefined): void => {
      clearTimeout(timer);
      unsubscribe();
      resolve(alert);
    };
    const timer = setTimeout(() => done(undefined), ms);
    const unsubscribe = feed.subscribe((event) => {
      if (event.type !== 'alert' || event.alert.id !== id) return;
      if (event.alert.state === 'acknowledged') done(event.alert);
      else if (event.alert.state === 'cleared') done(undefined);
    });
    cancel = () => done(undefined);
  });
  return { promise, cancel };
}
