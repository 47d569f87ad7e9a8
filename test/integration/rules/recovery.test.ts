/**
 * The instant the SIGKILL test (crash.test.ts) hits only sometimes, made to happen every time: the previous run
 * handed transitions on (journal O lines) and the broker took some of them on the retained alert topic, but no D line
 * says so. The restart restores a checkpoint older than those transitions, the same readings come in again, and every
 * transition must reach the topic exactly once: those the retained state shows are not published again, the rest
 * are, in order.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { encodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import type { Alert } from '../../../rules/alerts.ts';
import type { RulesConfigInput } from '../../../rules/config.ts';
import { alertTopicState } from '../../../rules/journal.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import { demoRegistry, T0 } from '../../../rules/test-support.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from './support.ts';

const TOPIC = topics.alert('paper-01', 'cod-limit', 'outfall-1-cod');

function batch(seq: number, values: number[]): Buffer {
  const b: ReadingBatch = {
    v: 1,
    gateway: 'gw-recovery',
    plant: 'paper-01',
    seq,
    sentAt: T0 + seq * 60_000,
    readings: values.map((value, i) => ({ meter: 'outfall-1-cod', quantity: 'cod', value, unit: 'mg/L', ts: T0 + seq * 60_000 + i * 1_000, quality: 'good' })),
  };
  return encodeBatch(b);
}

/** Raised, cleared, raised again (a second alert): three transitions on one topic. */
const UPSET = [batch(1, [95]), batch(2, [80]), batch(3, [99])];

describe('restart after transitions reached the topic without their journal confirmation', () => {
  let broker: RunningBroker;
  let dir: string;
  let watcher: MqttClient;
  let onTopic: Alert[];
  const running: RulesService[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-recovery-'));
    broker = await startBroker();
    onTopic = [];
    watcher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'recovery-watcher' });
    watcher.on('message', (_topic, payload, packet) => {
      if (!packet.retain) onTopic.push(JSON.parse(payload.toString('utf8')) as Alert);
    });
    await watcher.subscribeAsync(TOPIC, { qos: 1 });
  });
  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop();
    await watcher?.endAsync();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(): Promise<RulesService> {
    const config: RulesConfigInput = {
      mqtt: { url: broker.url, protocolVersion: 4 },
      clientId: 'rules-recovery',
      influx: { url: `http://127.0.0.1:${await freePort()}`, database: 'cleanstream', createDatabase: false },
      eventTime: { allowedLatenessMs: 0, idleFlushMs: 600_000 },
      tickMs: 100,
      checkpoint: { file: path.join(dir, 'checkpoint.json'), intervalMs: 600_000 },
      rules: [{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 90 } }],
    };
    const service = await startRules(config, { registry: demoRegistry(), logger: pino({ level: 'silent' }) });
    running.push(service);
    return service;
  }

  async function publish(messages: Buffer[], service: RulesService, expectReceived: number): Promise<void> {
    const client = await connectAsync(broker.url, { protocolVersion: 4, clientId: `recovery-feed-${running.length}` });
    for (const m of messages) await client.publishAsync(topics.readings('paper-01', 'gw-recovery'), m, { qos: 1 });
    await client.endAsync();
    await until('the rules service to judge the readings', () => (service.stats().receivedMessages >= expectReceived ? true : undefined));
    await service.flush();
  }

  /**
   * The state a crash leaves: the checkpoint from before the upset, a journal naming the upset's transitions as
   * handed on but none confirmed, and the topic showing `shownOnTopic` of them. Returns the transitions as first seen.
   */
  async function crashAfter(shownOnTopic: number): Promise<Alert[]> {
    const checkpoint = path.join(dir, 'checkpoint.json');
    const first = await start();
    await publish([batch(0, [50])], first, 1);
    await first.stop();
    running.pop();
    copyFileSync(checkpoint, `${checkpoint}.before-upset`);

    const second = await start();
    await publish(UPSET, second, UPSET.length);
    await until('the upset on the topic', () => (onTopic.length >= 3 ? true : undefined));
    await second.stop();
    running.pop();
    const upset = onTopic.splice(0);
    expect(upset.map((a) => `${a.state} ${a.raisedAt - T0}`)).toEqual(['raised 60000', 'cleared 60000', 'raised 180000']);

    copyFileSync(`${checkpoint}.before-upset`, checkpoint);
    const transitionOf = (a: Alert, i: number): string => (a.state === 'cleared' ? 'cleared' : i === 0 || a.count === 1 ? 'raised' : 'updated');
    writeFileSync(`${checkpoint}.journal`, upset.map((a, i) => `O ${a.id}:${transitionOf(a, i)}:${a.count} ${alertTopicState(a)}\n`).join(''));
    const publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'recovery-retained' });
    await publisher.publishAsync(TOPIC, JSON.stringify(upset[shownOnTopic - 1]), { qos: 1, retain: true });
    await publisher.endAsync();
    await until('the watcher to see the retained state set', () => (onTopic.length === 1 ? true : undefined));
    onTopic.length = 0;
    return upset;
  }

  it('publishes only the transitions after the one the retained state shows', async () => {
    const upset = await crashAfter(2);
    const third = await start();
    // the broker took the upset's readings before: they come again, as a redelivery would bring them
    await publish(UPSET, third, UPSET.length);
    await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up, if there were one
    expect(onTopic.map(alertTopicState)).toEqual([alertTopicState(upset[2]!)]);
    expect(third.stats().suppressedTransitions).toBe(2);
  });

  it('publishes none of them when the retained state shows the last', async () => {
    await crashAfter(3);
    const third = await start();
    await publish(UPSET, third, UPSET.length);
    await new Promise((r) => setTimeout(r, 300));
    expect(onTopic).toEqual([]);
    expect(third.stats().suppressedTransitions).toBe(3);
  });
});
