import { describe, expect, it } from 'vitest';
import type { Alert } from '../core/alert.ts';
import { AlertBoard, filterAlerts, parseAlertPayload, parseAlertTopic, slotOfAlertId } from './alerts.ts';

const alert = (over: Partial<Alert> = {}): Alert => ({
  id: 'cod-limit.paper-01.outfall-1-cod.1000',
  rule: 'cod-limit',
  plant: 'paper-01',
  meter: 'outfall-1-cod',
  quantity: 'cod',
  severity: 'major',
  state: 'raised',
  raisedAt: 1000,
  updatedAt: 1000,
  value: 96.5,
  limit: 90,
  count: 1,
  escalated: false,
  message: { en: 'COD over', zh: '超标' },
  ...over,
});
const slot = { plant: 'paper-01', rule: 'cod-limit', meter: 'outfall-1-cod' };

describe('alert topics and ids', () => {
  it('reads the slot from an alert topic and from an alert id', () => {
    expect(parseAlertTopic('cleanstream/v1/alerts/paper-01/cod-limit/outfall-1-cod')).toEqual(slot);
    expect(parseAlertTopic('cleanstream/v1/alerts/paper-01/cod-limit')).toBeUndefined();
    expect(parseAlertTopic('cleanstream/v1/readings/paper-01/gw')).toBeUndefined();
    expect(slotOfAlertId('cod-limit.paper-01.outfall-1-cod.1000')).toEqual({ ...slot, raisedAt: 1000 });
    expect(slotOfAlertId('cod-limit.paper-01.outfall-1-cod')).toBeUndefined();
    expect(slotOfAlertId("x.Paper'01.m.1")).toBeUndefined();
  });

  it('accepts an alert for its own slot only, and an empty payload as a deleted slot', () => {
    expect(parseAlertPayload(Buffer.from(JSON.stringify(alert())), slot)).toEqual({ kind: 'alert', alert: alert() });
    expect(parseAlertPayload(Buffer.alloc(0), slot)).toEqual({ kind: 'deleted' });
    expect(parseAlertPayload(Buffer.from(JSON.stringify(alert({ plant: 'steel-01' }))), slot).kind).toBe('invalid');
    expect(parseAlertPayload(Buffer.from('{"id":1}'), slot).kind).toBe('invalid');
    expect(parseAlertPayload(Buffer.from('not json'), slot).kind).toBe('invalid');
  });
});

describe('AlertBoard', () => {
  it('keeps the last state per slot and tells a change from a re-delivered retained message', () => {
    const board = new AlertBoard();
    expect(board.apply(slot, alert())).toBe(true);
    expect(board.apply(slot, alert())).toBe(false);
    expect(board.apply(slot, alert({ state: 'acknowledged', updatedAt: 2000, ackedBy: 'x' }))).toBe(true);
    expect(board.byId('cod-limit.paper-01.outfall-1-cod.1000')?.state).toBe('acknowledged');
    // a later alert of the same slot supersedes the earlier one
    board.apply(slot, alert({ id: 'cod-limit.paper-01.outfall-1-cod.5000', raisedAt: 5000, updatedAt: 5000 }));
    expect(board.byId('cod-limit.paper-01.outfall-1-cod.1000')).toBeUndefined();
    expect(board.open().map((a) => a.raisedAt)).toEqual([5000]);
    board.apply(slot, alert({ id: 'cod-limit.paper-01.outfall-1-cod.5000', state: 'cleared', raisedAt: 5000, updatedAt: 6000 }));
    expect(board.open()).toEqual([]);
    expect(board.apply(slot, null)).toBe(true);
    expect(board.size).toBe(0);
  });

  it('filters by plants, state, severity and time, most severe and newest first', () => {
    const alerts = [
      alert({ id: 'a.paper-01.m.1', raisedAt: 1, updatedAt: 1, severity: 'minor' }),
      alert({ id: 'b.paper-01.m.2', raisedAt: 2, updatedAt: 2, severity: 'critical', state: 'acknowledged' }),
      alert({ id: 'c.paper-01.m.3', raisedAt: 3, updatedAt: 9, severity: 'minor', state: 'cleared' }),
      alert({ id: 'd.steel-01.m.4', plant: 'steel-01', raisedAt: 4, updatedAt: 4 }),
    ];
    const ids = (f: Partial<Parameters<typeof filterAlerts>[1]>) => filterAlerts(alerts, { plants: new Set(['paper-01']), state: 'open', ...f }).map((a) => a.id[0]);
    expect(ids({})).toEqual(['b', 'a']);
    expect(ids({ state: 'all' })).toEqual(['b', 'c', 'a']);
    expect(ids({ state: 'cleared' })).toEqual(['c']);
    expect(ids({ state: 'all', severities: ['minor'] })).toEqual(['c', 'a']);
    expect(ids({ state: 'all', from: 2 })).toEqual(['b', 'c']);
    expect(ids({ state: 'all', to: 2 })).toEqual(['a']);
  });
});
