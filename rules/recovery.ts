/**
 * After a crash: which transitions of the previous run reached their retained alert topic, so that the restart
 * publishes each of them exactly once as an observer of the topic sees it.
 *
 * The journal (rules/journal.ts) lists, in hand-on order, the transitions whose webhooks were queued (O) but whose
 * publish was not confirmed (no D line): the process may have died after the broker took the PUBLISH and before the
 * PUBACK or the D line. One client publishes an alert topic's transitions in order at QoS 1, and a broker keeps the
 * last retained message of a topic (MQTT 3.1.1 §3.3.1.3), so the retained state marks a point in that order: every
 * O transition of the topic up to the one it shows got there, none after it did. The restart reads the retained
 * states before it publishes anything (the service holds its effects chain until then).
 */
import { connect } from 'mqtt';
import type { Logger } from 'pino';
import { mqttConnectOptions } from '../core/config.ts';
import { TransportError } from '../core/errors.ts';
import { topics } from '../bus/topics.ts';
import type { RulesConfig } from './config.ts';
import type { AlertState, AlertTransition } from './alerts.ts';
import { alertTopicState, keyParts } from './journal.ts';

/** The alert topic a journal key publishes to (undefined for a malformed key). */
export function topicOfKey(key: string): string | undefined {
  const p = keyParts(key);
  return p ? topics.alert(p.plant, p.rule, p.meter) : undefined;
}

/**
 * Journal keys already on their topic: for each topic, the outboxed transitions up to and including the one whose
 * state the retained message shows. A topic whose retained state matches none of them (an older transition, or
 * nothing) got none of them.
 *
 * @param outboxed key → the topic state it publishes, in hand-on order (JournalState.outboxed)
 * @param retained topic → the topic state its retained message shows (alertTopicState)
 */
export function alreadyOnTopic(outboxed: ReadonlyMap<string, string | undefined>, retained: ReadonlyMap<string, string>): Set<string> {
  const byTopic = new Map<string, { key: string; state: string | undefined }[]>();
  for (const [key, state] of outboxed) {
    const topic = topicOfKey(key);
    if (!topic) continue;
    let list = byTopic.get(topic);
    if (!list) byTopic.set(topic, (list = []));
    list.push({ key, state });
  }
  const out = new Set<string>();
  for (const [topic, list] of byTopic) {
    const shown = retained.get(topic);
    if (shown === undefined) continue;
    let last = -1;
    for (let i = 0; i < list.length; i++) if (list[i]!.state === shown) last = i;
    for (let i = 0; i <= last; i++) out.add(list[i]!.key);
  }
  return out;
}

interface RetainedAlert {
  id?: unknown;
  state?: unknown;
  count?: unknown;
  escalated?: unknown;
}

/**
 * The retained alert states of these topics (topic → alertTopicState). A short-lived clean-session client, so the
 * service's own session (and the readings the broker holds for it) is not touched. Retained messages follow the
 * SUBACK (§3.8.4); a topic without one is waited for at most `waitMs`.
 */
export async function readRetainedStates(config: RulesConfig, wantedTopics: ReadonlySet<string>, log: Logger, waitMs = 2_000): Promise<Map<string, string>> {
  const states = new Map<string, string>();
  if (!wantedTopics.size) return states;
  const client = connect(config.mqtt.url, { ...mqttConnectOptions(config.mqtt), clientId: `${config.clientId}-recover-${process.pid}`, clean: true, reconnectPeriod: 0 });
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new TransportError('MQTT_CONNECT', `no connection to the broker at ${config.mqtt.url} to read retained alert states`, true, { url: config.mqtt.url })), 10_000);
      client.once('connect', () => resolve());
    });
    clearTimeout(timer);
    let allSeen: () => void = () => undefined;
    const seenAll = new Promise<void>((resolve) => (allSeen = resolve));
    client.on('message', (topic, payload, packet) => {
      if (!packet.retain || !wantedTopics.has(topic)) return;
      try {
        const a = JSON.parse(payload.toString('utf8')) as RetainedAlert;
        if (typeof a.id === 'string' && typeof a.state === 'string' && typeof a.count === 'number') {
          states.set(topic, alertTopicState({ id: a.id, state: a.state as AlertState, count: a.count, escalated: a.escalated === true }));
        }
      } catch {
        // not an alert: the topic counts as showing none of the journal's transitions
      }
      if (states.size >= wantedTopics.size) allSeen();
    });
    await client.subscribeAsync([...wantedTopics], { qos: 1 });
    await Promise.race([seenAll, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not read the retained alert states; transitions the last run may have published are published again');
  } finally {
    clearTimeout(timer);
    await client.endAsync(true);
  }
  return states;
}

/** Whether a transition the previous run journaled as outboxed (and the restart produced again) reached its topic. */
export type PublishedBeforeCrash = (key: string, t: AlertTransition) => boolean;

/**
 * At a restart, before anything is published: read the retained states of the topics the previous run's unconfirmed
 * transitions (`outboxed`, journal.ts) were for, and say which of them got there.
 */
export async function publishedBeforeCrash(config: RulesConfig, outboxed: ReadonlyMap<string, string | undefined>, log: Logger): Promise<PublishedBeforeCrash> {
  let retainedAtStart = new Map<string, string>();
  let onTopicAlready = new Set<string>();
  if (outboxed.size) {
    const wanted = new Set([...outboxed.keys()].flatMap((k) => topicOfKey(k) ?? []));
    retainedAtStart = await readRetainedStates(config, wanted, log);
    onTopicAlready = alreadyOnTopic(outboxed, retainedAtStart);
    log.info({ unconfirmed: outboxed.size, onTopicAlready: onTopicAlready.size }, 'compared the last run\'s unconfirmed alert transitions with the retained alert topics');
  }
  return (key, t) => {
    if (onTopicAlready.has(key)) return true;
    // a journal line without a recorded state (older format): only the retained state itself is recognised
    if (outboxed.get(key) !== undefined) return false;
    const a = t.alert;
    return retainedAtStart.get(topics.alert(a.plant, a.rule, a.meter)) === alertTopicState(a);
  };
}
