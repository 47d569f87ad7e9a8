/**
 * Alert states onto their retained topics (`topics.alert(...)`, QoS 1), with a bound on the PUBLISHes waiting for
 * their PUBACK.
 *
 * Why the bound: MQTT.js numbers packets 1..65535 and wraps without checking what is still in flight, so an alert
 * storm of more would reuse ids, lose PUBACK callbacks and stall every later checkpoint. Past the bound alerts queue
 * here, in order (a freed slot goes to the oldest), so a topic's states still reach the broker in order.
 */
import type { Logger } from 'pino';
import { topics } from '../bus/topics.ts';
import type { Alert } from './alerts.ts';

/** Alert PUBLISHes waiting for their PUBACK at most (below MQTT's 65,535 packet ids). */
export const MAX_ALERTS_IN_FLIGHT = 10_000;

/** Publish retained at QoS 1; settles on the PUBACK. */
export type PublishRetained = (topic: string, payload: string) => Promise<unknown>;

export class AlertPublisher {
  published = 0;
  publishErrors = 0;
  private inFlight = 0;
  // a queue with a head index: Array.shift() moves every waiting entry, quadratic in a storm of tens of thousands
  private waitingForSlot: (() => void)[] = [];
  private waitingHead = 0;

  constructor(
    private readonly publishRetained: PublishRetained,
    private readonly log: Logger,
    private readonly maxInFlight = MAX_ALERTS_IN_FLIGHT,
  ) {}

  /** Settles once the broker has the state (or the publish failed: counted and logged, never thrown). */
  publish(a: Alert): Promise<void> {
    const go = (): Promise<void> =>
      this.publishRetained(topics.alert(a.plant, a.rule, a.meter), JSON.stringify(a))
        .then(
          () => void this.published++,
          (err: Error) => {
            this.publishErrors++;
            this.log.error({ err: err.message, alert: a.id }, 'publishing an alert failed');
          },
        )
        .finally(() => this.releaseSlot());
    if (this.inFlight < this.maxInFlight && this.waitingHead === this.waitingForSlot.length) {
      this.inFlight++;
      return go();
    }
    return new Promise<void>((resolve) => this.waitingForSlot.push(resolve)).then(go);
  }

  private releaseSlot(): void {
    if (this.waitingHead === this.waitingForSlot.length) {
      this.inFlight--;
      return;
    }
    const next = this.waitingForSlot[this.waitingHead++]!;
    if (this.waitingHead === this.waitingForSlot.length) {
      this.waitingForSlot = [];
      this.waitingHead = 0;
    }
    next();
  }
}
