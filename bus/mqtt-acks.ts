/**
 * PUBACKs sent when the message is safe downstream, not when it arrives: what lets a stage crash without losing a
 * QoS 1 message it had already acknowledged to the broker. With a persistent session (clean: false) the broker
 * redelivers every message not acknowledged, so a restart sees again exactly what was not yet safe.
 *
 * Two policies over one mechanism:
 * - `OrderedAcks` (ingest): each message is acknowledged once it is done (written to InfluxDB or dead-lettered),
 *   which can happen out of order; PUBACKs go out for the longest finished prefix.
 * - held acks (bus/held-acks.ts: the HJ 212 uplink and rules): state is made durable by
 *   checkpoints; a checkpoint marks how many messages its state has seen, and once it is on disk those are acknowledged.
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

/** What a checkpoint whose state is taken covers: the first `count` messages of connection `connection`. */
export interface AckMark {
  connection: number;
  count: number;
}
