import { describe, expect, it } from 'vitest';
import { OrderedAcks } from './mqtt-acks.ts';

describe('OrderedAcks', () => {
  it('sends PUBACKs in arrival order even when messages finish out of order (MQTT-4.6.0-2)', () => {
    const sent: number[] = [];
    const acks = new OrderedAcks((id) => sent.push(id));
    const [a, b, c] = [acks.track(11), acks.track(12), acks.track(13)];
    acks.complete(c);
    acks.complete(b);
    expect(sent).toEqual([]);
    expect(acks.outstanding).toBe(3);
    acks.complete(a);
    expect(sent).toEqual([11, 12, 13]);
    expect(acks.outstanding).toBe(0);
  });

  it('orders QoS 0 messages with the rest but sends nothing for them', () => {
    const sent: number[] = [];
    const acks = new OrderedAcks((id) => sent.push(id));
    const q0 = acks.track(undefined);
    const q1 = acks.track(5);
    acks.complete(q1);
    expect(sent).toEqual([]);
    acks.complete(q0);
    expect(sent).toEqual([5]);
  });

  it('never acknowledges a message of a lost connection (the broker redelivers it)', () => {
    const sent: number[] = [];
    const acks = new OrderedAcks((id) => sent.push(id));
    const old = acks.track(1);
    acks.reset();
    const fresh = acks.track(1);
    acks.complete(old);
    expect(sent).toEqual([]);
    acks.complete(fresh);
    expect(sent).toEqual([1]);
  });

  it('acknowledges each message once', () => {
    const sent: number[] = [];
    const acks = new OrderedAcks((id) => sent.push(id));
    const a = acks.track(1);
    acks.complete(a);
    acks.complete(a);
    expect(sent).toEqual([1]);
  });
});
