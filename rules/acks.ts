/**
 * PUBACKs sent only once a checkpoint covers the message: what closes the gap where readings judged since the last
 * checkpoint had already been acknowledged to the broker, so a crash lost them (and the alerts they would raise).
 *
 * The rules service judges a message as soon as it arrives but withholds its PUBACK. A checkpoint marks how many
 * messages its snapshot has seen, waits until the alerts they produced are durable (outbox, retained topic, journal),
 * writes the snapshot, and only then acknowledges those messages. After a crash the broker redelivers everything
 * unacknowledged (clean session off), i.e. exactly what the restored snapshot has not seen.
 *
 * PUBACKs go out in arrival order, as MQTT 3.1.1 §4.6 [MQTT-4.6.0-2] requires; the ones of a lost connection are
 * forgotten (their packet ids mean nothing on the next one, and the broker redelivers those messages).
 *
 * MQTT.js 5.16 has no manual-ack API for MQTT 3.1.1; it sends the PUBACK from the callback of `handleMessage` unless
 * that callback gets an error (handlers/publish.js). So `handleMessage` answers with a sentinel error and the
 * PUBACK is written later with the client's own packet writer (`_sendPacket`, private; pinned by the exact mqtt
 * version in package.json and exercised by test/integration/rules/crash.test.ts). The same idea as ingest's; rules
 * keeps its own copy because stages do not import each other's internals.
 */
import type { MqttClient } from 'mqtt';

const PUBACKS_PER_TURN = 2_000;

export interface AckMark {
  connection: number;
  count: number;
}

export class CheckpointAcks {
  /** Packet ids of QoS 1 messages judged on the current connection and not acknowledged yet, in arrival order. */
  private ids: number[] = [];
  private acked = 0;
  /** Acknowledge up to here (covered by a durable checkpoint). */
  private target = 0;
  private pumping = false;
  private connection = 0;
  private readonly send: (messageId: number) => void;

  /**
   * @param accepting whether an arriving message is being judged; one that is not (the service is stopping) is
   * never acknowledged, so that the broker delivers it again to the next run.
   */
  constructor(client: MqttClient, accepting: () => boolean) {
    const deferred = new Error('PUBACK deferred until a checkpoint covers the message');
    client.handleMessage = (packet, callback) => {
      if (packet.qos === 1 && packet.messageId !== undefined) {
        if (accepting()) this.ids.push(packet.messageId);
        callback(deferred);
      } else {
        callback();
      }
    };
    const internals = client as unknown as { _sendPacket(packet: { cmd: 'puback'; messageId: number; reasonCode?: number }): void };
    const v5 = client.options.protocolVersion === 5;
    this.send = (messageId) => {
      if (client.connected) internals._sendPacket(v5 ? { cmd: 'puback', messageId, reasonCode: 0 } : { cmd: 'puback', messageId });
    };
  }

  /** Messages judged and not yet acknowledged. */
  get outstanding(): number {
    return this.ids.length - this.acked;
  }

  /** What the snapshot being taken now covers. */
  mark(): AckMark {
    return { connection: this.connection, count: this.ids.length };
  }

  /**
   * The checkpoint taken at `mark` is durable: acknowledge what it covers, in order, PUBACKS_PER_TURN at a time
   * (tens of thousands written at once would hold the event loop, and the alerts behind it, for tens of ms).
   */
  release(mark: AckMark): void {
    if (mark.connection !== this.connection) return;
    this.target = Math.max(this.target, mark.count);
    if (!this.pumping) this.pump();
  }

  private readonly pump = (): void => {
    this.pumping = false;
    const stop = Math.min(this.target, this.acked + PUBACKS_PER_TURN);
    while (this.acked < stop) this.send(this.ids[this.acked++]!);
    if (this.acked < this.target) {
      this.pumping = true;
      setImmediate(this.pump);
      return;
    }
    if (this.acked > 4096 && this.acked === this.ids.length) {
      this.ids = [];
      this.target -= this.acked;
      this.acked = 0;
    } else if (this.acked > 65_536) {
      this.ids = this.ids.slice(this.acked);
      this.target -= this.acked;
      this.acked = 0;
    }
  };

  /** The connection was lost: its packet ids can no longer be acknowledged. */
  reset(): void {
    this.connection++;
    this.ids = [];
    this.acked = 0;
    this.target = 0;
  }
}
