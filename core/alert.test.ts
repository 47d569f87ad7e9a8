import { describe, expect, it } from 'vitest';
import { alertSchema, parseAlertAck } from './alert.ts';

const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('acknowledgements on the alert-ack topic', () => {
  it('take who acknowledged and their comment', () => {
    expect(parseAlertAck(json({ by: 'operator-1', comment: '已处理' }))).toEqual({ by: 'operator-1', comment: '已处理' });
    expect(parseAlertAck(json({ by: 'operator-1' }))).toEqual({ by: 'operator-1' });
  });

  it('are refused without a "by", or when not JSON', () => {
    for (const payload of [json({ comment: 'x' }), json({ by: '' }), json({ by: 7 }), json(null), json('operator-1'), Buffer.from('{by')]) {
      expect(parseAlertAck(payload), payload.toString()).toBeUndefined();
    }
  });

  it('keep the acknowledgement when only the comment is malformed', () => {
    expect(parseAlertAck(json({ by: 'operator-1', comment: 42 }))).toEqual({ by: 'operator-1' });
  });
});

describe('the alert schema', () => {
  const alert = {
    id: 'cod-limit.paper-01.outfall-1-cod.1767225600000',
    rule: 'cod-limit',
    plant: 'paper-01',
    meter: 'outfall-1-cod',
    quantity: 'cod',
    severity: 'major',
    state: 'raised',
    raisedAt: 1767225600000,
    updatedAt: 1767225600000,
    value: 96.5,
    limit: 90,
    bound: 'max',
    unit: 'mg/L',
    count: 1,
    peak: 96.5,
    escalated: false,
    message: { en: 'COD above its limit', zh: 'COD 超过限值' },
  };

  it('accepts alerts from checkpoints older than bound, unit and peak', () => {
    const { bound: _b, unit: _u, peak: _p, ...older } = alert;
    expect(alertSchema.safeParse(older).success).toBe(true);
  });

  it('refuses a severity or state it does not know, and ids that are not ids', () => {
    expect(alertSchema.safeParse({ ...alert, severity: 'fatal' }).success).toBe(false);
    expect(alertSchema.safeParse({ ...alert, state: 'open' }).success).toBe(false);
    expect(alertSchema.safeParse({ ...alert, plant: 'Paper 01' }).success).toBe(false);
    expect(alertSchema.safeParse({ ...alert, value: null, limit: null }).success).toBe(true);
  });
});
