/**
 * The contract every durable subscriber (bus/subscriber.ts) passes, whatever its transport and server: run it with
 * `describeSubscriberContract(name, bed)` from a test file (test/integration/bus/subscriber.test.ts runs it on aedes,
 * and on Mosquitto with MQTT 3.1.1 and MQTT 5). A test bed gives a server, a way to publish into it and subscribers;
 * the suite never looks at the transport itself, only at what a consumer sees.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../core/error-codes.ts';
import { TransportError } from '../core/errors.ts';
import { until as pollUntil } from '../test/harness/wait.ts';
import { RecentMessages } from './dedup.ts';
import type { BusMessage, DecodeOptions, DurableSubscriber } from './subscriber.ts';

export interface SubscriberBed {
  /** A subscriber for consumer `id` (the same id finds the same durable subscription again). */
  subscriber<T = unknown>(options: { id: string; subscriptions: string[]; decode?: DecodeOptions<T> }): DurableSubscriber<T>;
  /** Publishes at least once, confirmed by the server. */
  publish(topic: string, payload: string): Promise<void>;
  /** Topics the subscribers of this bed may subscribe to and publish on: `${root}/…`. */
  readonly root: string;
  /** A subscription the server refuses to the bed's subscribers. */
  readonly forbiddenSubscription: string;
  /** The TransportError code of that refusal (MQTT_SUBSCRIBE unless the transport has its own). */
  readonly refusalCode?: ErrorCode;
  /**
   * How the transport acknowledges: `arrival` (MQTT: PUBACKs in arrival order, so an ack waits for those before it)
   * or `each` (JetStream: each message on its own, in any order). The suite asserts the one the bed declares.
   */
  readonly acknowledges?: 'arrival' | 'each';
  close(): Promise<void>;
}

/** The suite's waits are shorter than the harness's default: a subscriber that delivers at all does so within 10 s. */
const until = (what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> => pollUntil(what, condition, timeoutMs);

interface Received {
  messages: BusMessage<unknown>[];
  texts(): string[];
}

function collect(): Received & { handler: (m: BusMessage<unknown>) => void } {
  const messages: BusMessage<unknown>[] = [];
  return { messages, handler: (m) => void messages.push(m), texts: () => messages.map((m) => m.payload.toString()) };
}

export function describeSubscriberContract(name: string, makeBed: () => Promise<SubscriberBed>): void {
  describe(`durable subscriber contract: ${name}`, () => {
    let bed: SubscriberBed;
    let consumers = 0;
    /** A fresh consumer id and topic per test: tests share the server, never a subscription. */
    const fresh = (): { id: string; topic: (n: number) => string; filter: string } => {
      const n = ++consumers;
      return { id: `c${n}`, topic: (i) => `${bed.root}/t${n}/m${i}`, filter: `${bed.root}/t${n}/+` };
    };
    const running: DurableSubscriber<unknown>[] = [];
    const open = <T>(options: { id: string; subscriptions: string[]; decode?: DecodeOptions<T> }): DurableSubscriber<T> => {
      const s = bed.subscriber(options);
      s.on('transportError', () => undefined);
      running.push(s as DurableSubscriber<unknown>);
      return s;
    };
    /** A consumer (a fresh one unless given: the same id resumes its subscription), started, handing every message to a collector. */
    const startCollecting = async (c = fresh()): Promise<{ c: ReturnType<typeof fresh>; got: ReturnType<typeof collect>; sub: DurableSubscriber<unknown> }> => {
      const got = collect();
      const sub = open({ id: c.id, subscriptions: [c.filter] });
      await sub.start(got.handler);
      return { c, got, sub };
    };
    /** Messages m<from>..m<to - 1>, one per topic of the consumer, in order. */
    const publishNumbered = async (c: ReturnType<typeof fresh>, to: number, from = 0): Promise<void> => {
      for (let i = from; i < to; i++) await bed.publish(c.topic(i), `m${i}`);
    };

    beforeAll(async () => {
      bed = await makeBed();
    });
    afterAll(async () => {
      await Promise.all(running.map((s) => s.stop()));
      await bed?.close();
    });

    it('hands over each message with its topic and payload, in the order published', async () => {
      const { c, got, sub } = await startCollecting();
      expect(sub.connected).toBe(true);
      await publishNumbered(c, 5);
      await until('5 messages', () => got.messages.length === 5);
      expect(got.texts()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      expect(got.messages.map((m) => m.topic)).toEqual([0, 1, 2, 3, 4].map(c.topic));
      expect(sub.stats()).toMatchObject({ connected: true, received: 5, unacked: 5, acknowledged: 0, connections: 1 });
      for (const m of got.messages) m.ack();
      await sub.stop();
    });

    it('delivers again, after a restart, what was not acknowledged, and only that', async () => {
      const c = fresh();
      const { got: first, sub: before } = await startCollecting(c);
      await publishNumbered(c, 4);
      await until('4 messages', () => first.messages.length === 4);
      first.messages[0]!.ack();
      first.messages[1]!.ack();
      await until('2 acknowledged', () => before.stats().acknowledged === 2);
      await before.stop();
      // published while the consumer is away: kept for it by its durable subscription
      await bed.publish(c.topic(4), 'm4');

      const { got: second, sub: after } = await startCollecting(c);
      await until('the unacknowledged and the queued messages', () => second.messages.length >= 3);
      // JetStream delivers again after its ack wait, behind what came meanwhile; MQTT resumes the session in order.
      expect(bed.acknowledges === 'each' ? second.texts().sort() : second.texts()).toEqual(['m2', 'm3', 'm4']);
      for (const m of second.messages) m.ack();
      await until('3 acknowledged', () => after.stats().acknowledged === 3);
      await after.stop();

      const { got: third, sub: last } = await startCollecting(c);
      await bed.publish(c.topic(5), 'm5');
      await until('the next message', () => third.messages.length >= 1);
      expect(third.texts()).toEqual(['m5']);
      third.messages[0]!.ack();
      await last.stop();
    });

    it('acknowledges in arrival order whatever order the consumer acknowledges in (MQTT: PUBACKs in order, §4.6)', async (ctx) => {
      if (bed.acknowledges === 'each') ctx.skip('the transport acknowledges each message on its own: the case below');
      const { c, got, sub } = await startCollecting();
      await publishNumbered(c, 4);
      await until('4 messages', () => got.messages.length === 4);
      got.messages[3]!.ack();
      got.messages[1]!.ack();
      got.messages[1]!.ack(); // twice: no effect
      expect(sub.stats()).toMatchObject({ acknowledged: 0, unacked: 4 });
      got.messages[0]!.ack();
      expect(sub.stats()).toMatchObject({ acknowledged: 2, unacked: 2 });
      await sub.stop();

      // m2 was never acknowledged: m2 and m3 (acknowledged by the consumer, but behind m2) come again
      const { got: again, sub: next } = await startCollecting(c);
      await until('the redelivery', () => again.messages.length >= 2);
      expect(again.texts()).toEqual(['m2', 'm3']);
      for (const m of again.messages) m.ack();
      await until('2 acknowledged', () => next.stats().acknowledged === 2);
      await next.stop();
    });

    it('acknowledges each message on its own, in any order, and delivers again only what was not (JetStream)', async (ctx) => {
      if (bed.acknowledges !== 'each') ctx.skip('acknowledgements in arrival order: the case above');
      const { c, got, sub } = await startCollecting();
      await publishNumbered(c, 4);
      await until('4 messages', () => got.messages.length === 4);
      got.messages[3]!.ack();
      got.messages[1]!.ack();
      got.messages[1]!.ack(); // twice: no effect
      got.messages[0]!.ack();
      await until('3 acknowledged', () => sub.stats().acknowledged === 3);
      expect(sub.stats()).toMatchObject({ acknowledged: 3, unacked: 1 });
      await sub.stop();

      const { got: again, sub: next } = await startCollecting(c);
      await bed.publish(c.topic(4), 'm4');
      await until('the redelivery and the next message', () => again.messages.length >= 2);
      expect(again.texts().sort()).toEqual(['m2', 'm4']);
      for (const m of again.messages) m.ack();
      await until('2 acknowledged', () => next.stats().acknowledged === 2);
      await next.stop();
    });

    it('fails start with a TransportError (MQTT_SUBSCRIBE, or the transport\'s code) when the server refuses a subscription', async () => {
      const c = fresh();
      const sub = open({ id: c.id, subscriptions: [c.filter, bed.forbiddenSubscription] });
      const failure = await sub.start(() => undefined).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(TransportError);
      expect(failure).toMatchObject({ code: bed.refusalCode ?? 'MQTT_SUBSCRIBE', retryable: false });
      expect((failure as Error).message).toContain(bed.forbiddenSubscription);
      await sub.stop(); // after a failed start: resolves, nothing left to close
    });

    it('stops at once when it was never started', async () => {
      const sub = open({ id: fresh().id, subscriptions: [`${bed.root}/never/+`] });
      await sub.stop();
      expect(sub.connected).toBe(false);
    });

    it('decodes once, hands decoding failures over as decodeError, and drops batches seen before', async () => {
      const c = fresh();
      const recent = new RecentMessages();
      const decode: DecodeOptions<{ gateway: string; seq: number; sentAt: number }> = {
        decode: (_topic, payload) => {
          const body = JSON.parse(payload.toString()) as { gateway: string; seq: number; sentAt: number };
          if (typeof body.seq !== 'number') throw new Error('no seq');
          return body;
        },
        dedup: { recent, identify: (b) => ({ source: b.gateway, seq: b.seq, sentAt: b.sentAt }) },
      };
      const got = collect();
      const sub = open({ id: c.id, subscriptions: [c.filter], decode });
      await sub.start(got.handler);
      const batch = (seq: number): string => JSON.stringify({ gateway: 'gw-1', seq, sentAt: 1_700_000_000_000 + seq });
      await bed.publish(c.topic(0), batch(1));
      await bed.publish(c.topic(0), batch(1)); // the same batch again
      await bed.publish(c.topic(0), '{"gateway":"gw-1"}');
      await bed.publish(c.topic(0), batch(2));
      await until('the two batches and the undecodable message', () => got.messages.length === 3);
      expect(got.messages.map((m) => (m.decoded as { seq: number } | undefined)?.seq)).toEqual([1, undefined, 2]);
      expect(got.messages[1]!.decodeError?.message).toBe('no seq');
      expect(sub.stats()).toMatchObject({ received: 3, duplicates: 1, decodeErrors: 1 });
      for (const m of got.messages) m.ack();
      // the duplicate was acknowledged for the consumer: all four are
      await until('4 acknowledged', () => sub.stats().acknowledged === 4);
      await sub.stop();
    });

    it('holds the next message back while the handler works on one (backpressure)', async () => {
      const c = fresh();
      const got = collect();
      let release: () => void = () => undefined;
      const sub = open({ id: c.id, subscriptions: [c.filter] });
      await sub.start((m) => {
        got.handler(m);
        if (got.messages.length === 1) return new Promise<void>((resolve) => (release = resolve));
      });
      await publishNumbered(c, 3);
      await until('the first message', () => got.messages.length === 1);
      // every publish is confirmed by the server: the others wait behind the held one, not in flight to us
      await bed.publish(c.topic(9), 'm9');
      await new Promise((r) => setTimeout(r, 100));
      expect(got.texts()).toEqual(['m0']);
      release();
      await until('the rest', () => got.messages.length === 4);
      expect(got.texts()).toEqual(['m0', 'm1', 'm2', 'm9']);
      for (const m of got.messages) m.ack();
      await sub.stop();
    });

    it('publishes (confirmed) and keeps acknowledging while stop drains; hands nothing over once stopping', async () => {
      const { c, got, sub } = await startCollecting();
      await sub.publish(c.topic(0), 'own');
      await until('its own message', () => got.messages.length === 1);
      expect(got.texts()).toEqual(['own']);
      let drained = 0;
      const stopping = sub.stop(async () => {
        await bed.publish(c.topic(1), 'late'); // arrives while stopping: left for the next run
        got.messages[0]!.ack();
        await until('the ack', () => sub.stats().acknowledged === 1);
        drained++;
      });
      await Promise.all([stopping, sub.stop()]);
      expect(drained).toBe(1);
      expect(got.texts()).toEqual(['own']);
      expect(sub.connected).toBe(false);

      const { got: again, sub: next } = await startCollecting(c);
      await until('the late message', () => again.messages.length >= 1);
      expect(again.texts()).toEqual(['late']);
      again.messages[0]!.ack();
      await next.stop();
    });
  });
}
