import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { CheckpointAcks, OrderedAcks } from './mqtt-acks.ts';

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

/** An MQTT.js client as CheckpointAcks sees it: packets handed to handleMessage, PUBACKs written with _sendPacket. */
class FakeClient extends EventEmitter {
  connected = true;
  options = { protocolVersion: 4 };
  sent: number[] = [];
  autoAcked: number[] = [];
  handleMessage: (packet: { qos: number; messageId?: number }, callback: (err?: Error) => void) => void = (_p, cb) => cb();
  _sendPacket(packet: { messageId: number }): void {
    this.sent.push(packet.messageId);
  }
  /** What MQTT.js does with a PUBLISH: the PUBACK goes out from the callback unless it gets an error. */
  receive(messageId: number, qos = 1): void {
    this.handleMessage({ qos, messageId }, (err) => {
      if (!err && qos === 1) this.autoAcked.push(messageId);
    });
  }
}

describe('CheckpointAcks', () => {
  const make = (accepting = (): boolean => true): { client: FakeClient; acks: CheckpointAcks } => {
    const client = new FakeClient();
    return { client, acks: new CheckpointAcks(client as unknown as MqttClient, accepting) };
  };

  it('acknowledges nothing on arrival, then in arrival order what a durable checkpoint covers', async () => {
    const { client, acks } = make();
    for (const id of [7, 8, 9]) client.receive(id);
    const mark = acks.mark();
    client.receive(10);
    expect(client.autoAcked).toEqual([]);
    expect(acks.outstanding).toBe(4);
    await acks.release(mark);
    expect(client.sent).toEqual([7, 8, 9]);
    expect(acks.outstanding).toBe(1);
  });

  it('writes a large release over several turns of the event loop, and settles once all are out', async () => {
    const { client, acks } = make();
    for (let id = 1; id <= 5_000; id++) client.receive(id);
    const released = acks.release(acks.mark());
    expect(client.sent.length).toBeLessThan(5_000);
    await released;
    expect(client.sent).toEqual(Array.from({ length: 5_000 }, (_, i) => i + 1));
  });

  it('a mark taken before the acknowledged ids are dropped still covers exactly its messages', async () => {
    const { client, acks } = make();
    for (let id = 1; id <= 5_000; id++) client.receive(id);
    const first = acks.mark();
    const second = acks.mark(); // a checkpoint beginning while nothing new came in
    await acks.release(first); // every id acknowledged: the tracked ids are dropped
    for (let id = 5_001; id <= 5_003; id++) client.receive(id);
    await acks.release(second);
    expect(client.sent.length, 'nothing the second checkpoint did not hold').toBe(5_000);
    await acks.release(acks.mark());
    expect(client.sent.slice(-3)).toEqual([5_001, 5_002, 5_003]);
  });

  it('never acknowledges a message of a lost connection, nor one that arrived while not accepting', async () => {
    let accepting = true;
    const { client, acks } = make(() => accepting);
    client.receive(1);
    const old = acks.mark();
    client.emit('close');
    await acks.release(old);
    expect(client.sent).toEqual([]);
    client.receive(1);
    accepting = false;
    client.receive(2);
    await acks.release(acks.mark());
    expect(client.sent).toEqual([1]);
    expect(client.autoAcked, 'the automatic PUBACK stays suppressed').toEqual([]);
  });
});
