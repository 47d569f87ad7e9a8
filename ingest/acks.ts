/**
 * Acknowledging QoS 1 messages only once they are durable downstream (written to InfluxDB, or dead-lettered).
 *
 * MQTT 3.1.1 §4.6 [MQTT-4.6.0-2] (and MQTT 5 §4.6) require a receiver to send PUBACKs in the order the PUBLISH
 * packets arrived. Messages finish out of order here (a dead letter is confirmed before an earlier message's batch
 * is written), so completions are queued and PUBACKs are released for the longest finished prefix.
 *
 * A PUBACK belongs to one network connection: after a reconnect the broker redelivers whatever was not acknowledged
 * (clean session off), so `reset()` forgets the old connection's tickets rather than acknowledging packet ids that
 * now mean other messages. The redelivered copies are written again; InfluxDB overwrites a point with the same
 * series, timestamp and fields, so at-least-once delivery does not duplicate data.
 */
import type { MqttClient } from 'mqtt';

export interface AckTicket {
  /** The PUBLISH packet id; undefined for QoS 0, which has nothing to acknowledge. */
  readonly messageId: number | undefined;
  readonly connection: number;
  done: boolean;
}

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

/**
 * Makes an MQTT.js client leave PUBACKs to us, and returns how to send one.
 *
 * MQTT.js 5.16 has no public manual-ack API for MQTT 3.1.1 (`customHandleAcks` is MQTT 5 only), and both it and
 * `handleMessage` defer an ack only by holding up the processing of every later packet, which would allow one
 * message per InfluxDB round trip. What MQTT.js does offer: it calls `handleMessage(packet, callback)` for each
 * QoS 1 PUBLISH and sends the PUBACK from that callback unless it is called with an error (client.js,
 * handlers/publish.js). So `handleMessage` reports a sentinel error to suppress the automatic PUBACK, and we send
 * it later through the client's own packet writer (`_sendPacket`, private: pinned by the exact mqtt version in
 * package.json and covered by test/integration/ingest, which checks that unwritten messages are redelivered).
 *
 * `onPublish` decides when MQTT.js may move on to the next packet: calling `proceed` later is the backpressure
 * (TCP and then the broker hold the rest).
 */
export function takeOverAcks(
  client: MqttClient,
  onPublish: (packet: Parameters<MqttClient['handleMessage']>[0], proceed: () => void) => void,
): (messageId: number) => void {
  const deferred = new Error('PUBACK deferred until the message is written');
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
