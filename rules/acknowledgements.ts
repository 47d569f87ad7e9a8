/**
 * Operators' acknowledgements of alerts, from `cleanstream/v1/alert-acks/{plant}/{rule}/{meter}` with a body
 * `{"by": "...", "comment": "..."}` (the dashboard publishes them). One without a `by` is logged and ignored, and so
 * is one for an alert that is not open and unacknowledged.
 */
import type { Logger } from 'pino';
import { TOPIC_ROOT } from '../bus/topics.ts';
import { parseAlertAck } from '../core/alert.ts';
import type { RulesEngine } from './engine.ts';

export function isAcknowledgementTopic(topic: string): boolean {
  return topic.startsWith(`${TOPIC_ROOT}/alert-acks/`);
}

/** Handles one acknowledgement message; `owned` (a partition's plants) skips other partitions' alerts. */
export function acknowledgementHandler(engine: () => RulesEngine, owned: ReadonlySet<string> | undefined, log: Logger): (topic: string, payload: Buffer) => void {
  return (topic, payload) => {
    const [plant, rule, meter] = topic.split('/').slice(-3) as [string, string, string];
    if (owned && !owned.has(plant)) return; // another partition's alert
    const ack = parseAlertAck(payload);
    if (!ack) {
      log.warn({ topic }, 'acknowledgement without a "by" ignored');
      return;
    }
    const ok = engine().acknowledge({ rule, plant, meter }, ack.by, ack.comment);
    if (!ok) log.info({ topic }, 'acknowledgement for no unacknowledged alert ignored');
  };
}
