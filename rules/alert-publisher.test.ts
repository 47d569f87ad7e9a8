import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { topics } from '../bus/topics.ts';
import type { Alert } from './alerts.ts';
import { AlertPublisher } from './alert-publisher.ts';

const log = pino({ level: 'silent' });

function alert(meter: string, count: number): Alert {
  return { id: `cod-limit.paper-01.${meter}.1000`, rule: 'cod-limit', plant: 'paper-01', meter, count } as Alert;
}

/** A broker stand-in that PUBACKs only when told, so that the test sees what waits. */
function heldBroker(): { publish: (topic: string, payload: string) => Promise<unknown>; sent: string[]; ackNext: () => void; failNext: () => void } {
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const sent: string[] = [];
  return {
    sent,
    publish: (topic, payload) => {
      sent.push(`${topic} ${(JSON.parse(payload) as Alert).count}`);
      return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
    },
    ackNext: () => pending.shift()!.resolve(),
    failNext: () => pending.shift()!.reject(new Error('connection lost')),
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('alert states onto their retained topics', () => {
  it('holds PUBLISHes past the in-flight bound back, and sends them in order as PUBACKs free slots', async () => {
    const broker = heldBroker();
    const publisher = new AlertPublisher(broker.publish, log, 2);
    const done = [1, 2, 3, 4].map((n) => publisher.publish(alert('outfall-1-cod', n)));
    await settle();
    const topic = topics.alert('paper-01', 'cod-limit', 'outfall-1-cod');
    expect(broker.sent).toEqual([`${topic} 1`, `${topic} 2`]);
    broker.ackNext();
    await settle();
    expect(broker.sent).toEqual([`${topic} 1`, `${topic} 2`, `${topic} 3`]);
    broker.ackNext();
    broker.ackNext();
    await settle();
    broker.ackNext();
    await Promise.all(done);
    expect(broker.sent.map((s) => s.split(' ')[1])).toEqual(['1', '2', '3', '4']);
    expect(publisher.published).toBe(4);
  });

  it('counts a failed publish and frees its slot, never throws to the caller', async () => {
    const broker = heldBroker();
    const publisher = new AlertPublisher(broker.publish, log, 1);
    const first = publisher.publish(alert('outfall-1-cod', 1));
    const second = publisher.publish(alert('outfall-1-cod', 2));
    await settle();
    broker.failNext();
    await first;
    await settle();
    expect(broker.sent).toHaveLength(2);
    broker.ackNext();
    await second;
    expect({ published: publisher.published, publishErrors: publisher.publishErrors }).toEqual({ published: 1, publishErrors: 1 });
  });
});
