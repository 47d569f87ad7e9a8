/**
 * Two processes started with the same MQTT client id take the session from each other: the broker closes the older
 * connection at every CONNECT of the newer (MQTT 3.1.1 §3.1.4, MQTT 5 reason 0x8E "session taken over"), both
 * reconnect, and each sees a connection that keeps dropping right after it opens. Without a log line saying so, an
 * operator sees readings trickle and nothing to explain why. This reports it once per episode.
 */
import type { MqttClient } from 'mqtt';

/** A close this soon after a QoS 1 PUBLISH that is not acknowledged is taken as the broker refusing it. */
const REFUSAL_CLOSE_MS = 500;

/** MQTT 5 DISCONNECT reason code: another connection with the same client id took the session. */
const SESSION_TAKEN_OVER = 0x8e;

export interface ClientIdClashOptions {
  /** A connection closed sooner than this after its CONNACK counts as dropped right after it opened. */
  quickCloseMs?: number;
  /** This many such closes within `windowMs` are reported (3.1.1 brokers say nothing about why they closed). */
  closes?: number;
  windowMs?: number;
  now?: () => number;
}

/** Calls `report` with a message for people when `client` looks like it shares its client id; returns a detach. */
export function watchClientIdClash(client: MqttClient, clientId: string, report: (message: string, context: Record<string, unknown>) => void, options: ClientIdClashOptions = {}): () => void {
  const quickCloseMs = options.quickCloseMs ?? 5_000;
  const closes = options.closes ?? 3;
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  let connectedAt: number | undefined;
  let lastPublishSentAt = -Infinity;
  let quickCloses: number[] = [];
  let reportedAt = -Infinity;
  const tell = (message: string, context: Record<string, unknown>): void => {
    if (now() - reportedAt < windowMs) return;
    reportedAt = now();
    report(message, { clientId, ...context });
  };
  const onConnect = (): void => void (connectedAt = now());
  const onDisconnect = (packet: { reasonCode?: number }): void => {
    if (packet.reasonCode === SESSION_TAKEN_OVER) {
      tell(`another client connected with our client id ${clientId} and the broker gave it our session (MQTT 5 reason 0x8E): two processes share this id; give each its own`, { reasonCode: SESSION_TAKEN_OVER });
    }
  };
  const onPacketSend = (packet: { cmd?: string; qos?: number }): void => {
    if (packet.cmd === 'publish' && (packet.qos ?? 0) > 0) lastPublishSentAt = now();
  };
  const onClose = (): void => {
    if (connectedAt === undefined) return;
    const t = now();
    // A broker that refuses a PUBLISH by its ACL closes the connection at once (MQTT 3.1.1 has no negative PUBACK):
    // a close right after a PUBLISH still waiting for its PUBACK is that, not a second client with our id.
    const refusedPublish = Object.keys(client.outgoing ?? {}).length > 0 && t - lastPublishSentAt < REFUSAL_CLOSE_MS;
    if (t - connectedAt < quickCloseMs && !refusedPublish) quickCloses.push(t);
    connectedAt = undefined;
    quickCloses = quickCloses.filter((at) => t - at <= windowMs);
    if (quickCloses.length >= closes) {
      tell(`the broker closed our connection ${quickCloses.length} times within ${Math.round(windowMs / 1000)} s, each soon after it opened: another client may be connecting with our client id ${clientId} (each takes the session from the other); give each process its own id`, { closes: quickCloses.length, windowMs });
    }
  };
  client.on('connect', onConnect);
  client.on('disconnect', onDisconnect);
  client.on('packetsend', onPacketSend);
  // first, so that the unacknowledged PUBLISHes are still there to see (the gateway's publisher takes them back on close)
  client.prependListener('close', onClose);
  return () => {
    client.off('connect', onConnect);
    client.off('disconnect', onDisconnect);
    client.off('close', onClose);
    client.off('packetsend', onPacketSend);
  };
}
