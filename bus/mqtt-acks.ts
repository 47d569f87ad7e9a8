/**
 * PUBACKs sent when the message is safe downstream, not when it arrives: what lets a stage crash without losing a
 * QoS 1 message it had already acknowledged to the broker. With a persistent session (clean: false) the broker
 * redelivers every message not acknowledged, so a restart sees again exactly what was not yet safe.
 *
 * Two policies over one mechanism:
 * - `OrderedAcks` (ingest): each message is acknowledged once it is done (written to InfluxDB or dead-lettered),
 *   which can happen out of order; PUBACKs go out for the longest finished prefix.
 * - `CheckpointAcks` (rules, HJ 212 uplink): state is made durable by checkpoints; a checkpoint marks how many messages
 *   its state has seen, and once it is on disk those are acknowledged.
 * Either way PUBACKs leave in arrival order, as MQTT 3.1.1 §4.6 [MQTT-4.6.0-2] (and MQTT 5 §4.6) require, and those of
 * a lost connection are forgotten: their packet ids mean other messages on the next one, and the broker redelivers.
 *
 * The mechanism (`takeOverAcks`): MQTT.js 5.16 has no public manual-ack API for MQTT 3.1.1 (`customHandleAcks` is
 * MQTT 5 only), and both it and `handleMessage` defer an ack only by holding up every later packet, which would allow
 * one message per round trip downstream. It does call `handleMessage(packet, callback)` for each QoS 1 PUBLISH and
 * sends the PUBACK from that callback unless it gets an error (client.js, handlers/publish.js). So `handleMessage`
 * reports a sentinel error to suppress the automatic PUBACK, and the PUBACK is written later through the client's
 * own packet writer (`_sendPacket`, private: pinned by the exact mqtt version in package.json and exercised by the
 * crash tests of ingest, rules and the uplink, which check that what was not safe is redelivered).
 */
import type { MqttClient } from 'mqtt';

type PublishPacket = Parameters<MqttClient['handleMessage']>[0];

/**
 * Makes an MQTT.js client leave PUBACKs to us, and returns how to send one. `onPublish` decides when MQTT.js may
 * move on to the next packet: calling `proceed` later is backpressure (TCP and then the broker hold the rest).
 */
export function takeOverAcks(client: MqttClient, onPublish: (packet: PublishPacket, proceed: () => void) => void): (messageId: number) => void {
  const deferred = new Error('PUBACK deferred until the message is safe');
  client.handleMessage = (packet, callback) => {
    onPublish(packet, () => callback(packet.qos === 1 ? deferred : undefined));
  };
  const internals = client as unknown as { _sendPacket(packet: { cmd: 'puback'; messageId: number; reasonCode?: number }): void };
  const v5 = client.options.protocolVersion === 5;
  return (messageId) => {
    if (!client.connected) return;
    internals._sendPacket(v5 ? { cmd: 'puback', messageId, reasonCode: 0 } : { cmd: 'puback', messageId });
  };
}

export interface AckTicket {
  /** The PUBLISH packet id; undefined for QoS 0, which has nothing to acknowledge. */
  readonly messageId: number | undefined;
  readonly connection: number;
  done: boolean;
}

/** Acknowledge each message once it is done, in arrival order (see above). */
export class OrderedAcks {
  private queue: AckTicket[] = [];
  private head = 0;
  private connection = 0;

  constructor(private readonly sendPuback: (messageId: number) => void) {}

  /** Messages received on this connection and not acknowledged yet. */
  get outstanding(): number {
    return this.queue.length - this.head;
  }

  track(messageId: number | undefined): AckTicket {
    const ticket: AckTicket = { messageId, connection: this.connection, done: false };
    this.queue.push(ticket);
    return ticket;
  }

  complete(ticket: AckTicket): void {
    if (ticket.connection !== this.connection || ticket.done) return;
    ticket.done = true;
    while (this.head < this.queue.length && this.queue[this.head]!.done) {
      const id = this.queue[this.head]!.messageId;
      this.head++;
      if (id !== undefined) this.sendPuback(id);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** The connection was lost: its tickets can no longer be acknowledged. */
  reset(): void {
    this.connection++;
    this.queue = [];
    this.head = 0;
  }
}

/** Tens of thousands of PUBACKs written at once would hold the event loop (and what waits behind it) for tens of ms. */
const PUBACKS_PER_TURN = 2_000;

export interface AckMark {
  connection: number;
  count: number;
}

/**
 * Acknowledge messages once a checkpoint covers them (see above). The stage handles each message as it arrives;
 * `mark()` when a checkpoint's state is taken, `release(mark)` once that checkpoint is durable.
 */
export class CheckpointAcks {
  /** Packet ids of QoS 1 messages handled on the current connection and not acknowledged yet, in arrival order. */
  private ids: number[] = [];
  /** Ids acknowledged and dropped from `ids` on this connection: marks count from the connection's first message. */
  private dropped = 0;
  private acked = 0;
  /** Acknowledge up to here (covered by a durable checkpoint). */
  private target = 0;
  private pumping: Promise<void> | undefined;
  private connection = 0;
  private readonly send: (messageId: number) => void;

  /**
   * Takes over the client's PUBACKs. `accepting` says whether an arriving message is being handled; one that is not
   * (the stage is stopping) is never acknowledged, so that the broker delivers it again to the next run.
   */
  constructor(client: MqttClient, accepting: () => boolean) {
    this.send = takeOverAcks(client, (packet, proceed) => {
      if (packet.qos === 1 && packet.messageId !== undefined && accepting()) this.ids.push(packet.messageId);
      proceed();
    });
    client.on('close', () => this.reset());
  }

  /** Messages handled and not yet acknowledged. */
  get outstanding(): number {
    return this.ids.length - this.acked;
  }

  /** What a checkpoint whose state is taken now covers. */
  mark(): AckMark {
    return { connection: this.connection, count: this.dropped + this.ids.length };
  }

  /** The checkpoint taken at `mark` is durable: acknowledge what it covers, in order. Settles once they are all written. */
  release(mark: AckMark): Promise<void> {
    if (mark.connection === this.connection) this.target = Math.max(this.target, mark.count - this.dropped);
    if (this.pumping) return this.pumping;
    if (!this.pumpTurn()) return Promise.resolve();
    return (this.pumping = new Promise<void>((resolve) => {
      const next = (): void => {
        if (this.pumpTurn()) setImmediate(next);
        else {
          this.pumping = undefined;
          resolve();
        }
      };
      setImmediate(next);
    }));
  }

  /** Send one turn's PUBACKs; true when more are due. */
  private pumpTurn(): boolean {
    const stop = Math.min(this.target, this.acked + PUBACKS_PER_TURN);
    while (this.acked < stop) this.send(this.ids[this.acked++]!);
    if (this.acked < this.target) return true;
    if ((this.acked > 4096 && this.acked === this.ids.length) || this.acked > 65_536) {
      this.ids = this.acked === this.ids.length ? [] : this.ids.slice(this.acked);
      this.dropped += this.acked;
      this.target -= this.acked;
      this.acked = 0;
    }
    return false;
  }

  /** The connection was lost: its packet ids can no longer be acknowledged. */
  private reset(): void {
    this.connection++;
    this.ids = [];
    this.dropped = 0;
    this.acked = 0;
    this.target = 0;
  }
}
