/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1) that `cleanstream up` and the tests use when no external broker is
 * given. In production any MQTT 3.1.1/5 broker works; deploy/ documents Mosquitto.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Aedes, type AedesOptions, type AuthenticateError } from 'aedes';
import { TransportError } from '../core/errors.ts';
import type { BrokerUsers } from './broker-auth.ts';
import { BROKER_LIMITS, ConnectionRateLimiter, PacketSizeGuard, type BrokerLimits } from './broker-limits.ts';
import { SessionQueueBound } from './broker-queues.ts';

export interface BrokerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Hooks for authentication and topic ACLs (see aedes' authenticate/authorizePublish/authorizeSubscribe). */
  aedes?: Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>;
  /** Require these users' credentials and enforce their topic ACLs (bus/broker-auth.ts). */
  users?: BrokerUsers;
  /** Called with a line for every refused connection, publish or subscription. */
  onDenied?: (what: string) => void;
  /** Packet sizes, CONNECT timeout and connection rate per address (defaults: BROKER_LIMITS). */
  limits?: Partial<BrokerLimits>;
  /** An additional TLS listener (mqtts://); PEM files. */
  tls?: { port?: number; certFile: string; keyFile: string; caFile?: string };
}

export interface RunningBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** mqtts:// URL of the TLS listener, when one was asked for. */
  readonly tlsUrl?: string;
  readonly aedes: Aedes;
  /** Bytes queued per persistent session (the bound is limits.maxSessionQueueBytes). */
  readonly queues: SessionQueueBound;
  stop(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const host = options.host ?? '127.0.0.1';
  const limits: BrokerLimits = { ...BROKER_LIMITS, ...options.limits };
  // Users whose role publishes others' messages again (dead letters) get the larger limit after login.
  const consumers = new WeakSet<object>();
  const hooks = {
    ...options.users?.aedesHooks(options.onDenied, (client, user) => void ((user.role === 'ingest' || user.role === 'rules') && consumers.add(client))),
    ...options.aedes,
  };
  const afterLogin = (client: object): number => (!options.users || consumers.has(client) ? limits.maxConsumerPacketBytes : limits.maxPacketBytes);
  const queues = new SessionQueueBound(limits.maxSessionQueueBytes);
  const aedes = await Aedes.createBroker({
    connectTimeout: limits.connectTimeoutMs,
    ...hooks,
    authenticate: holdCutPublishers(queues, hooks.authenticate, options.onDenied),
    authorizePublish: boundedQueues(queues, hooks.authorizePublish, options.onDenied),
  });
  // aedes 1.2's types do not declare the instance's persistence (the default in-memory aedes-persistence).
  queues.attach((aedes as unknown as { persistence: Parameters<SessionQueueBound['attach']>[0] }).persistence);
  const sockets = new Set<Socket>();
  const rate = new ConnectionRateLimiter(limits.connectionBurst, limits.connectionsPerSecond);
  const track = (socket: Socket): void => {
    const address = socket.remoteAddress ?? '?';
    if (!rate.allow(address)) {
      options.onDenied?.(`connection from ${address} refused: more than ${limits.connectionBurst} at once or ${limits.connectionsPerSecond}/s`);
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    guardPacketSizes(aedes.handle(socket) as unknown as AedesClientInternals, socket, limits.maxConnectBytes, afterLogin, options.onDenied);
  };
  const servers: Server[] = [];
  const listen = async (server: Server, port: number, what: string): Promise<number> => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new TransportError('BROKER_LISTEN', `cannot listen (${what}) on ${host}:${port}: ${err.message}`, false, { host, port }, { cause: err })));
      server.listen(port, host, () => resolve());
    });
    servers.push(server);
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  };
  // aedes runs interval timers from its creation: a broker that could not listen must close them, or a process
  // whose start failed (a port in use) never exits.
  const abandon = async (err: unknown): Promise<never> => {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  };
  const port = await listen(createServer(track), options.port ?? 0, 'mqtt').catch(abandon);
  let tlsUrl: string | undefined;
  if (options.tls) {
    const tlsServer = createTlsServer(
      {
        cert: readFileSync(options.tls.certFile),
        key: readFileSync(options.tls.keyFile),
        // a CA for client certificates means mutual TLS: a client without a certificate it signed is refused in the
        // handshake (without requestCert Node never asks for one, and the CA was silently unused)
        ...(options.tls.caFile ? { ca: readFileSync(options.tls.caFile), requestCert: true, rejectUnauthorized: true } : {}),
      },
      track,
    );
    const tlsPort = await listen(tlsServer, options.tls.port ?? 0, 'mqtts').catch(abandon);
    tlsUrl = `mqtts://${host}:${tlsPort}`;
  }
  let stopped = false;
  return {
    host,
    port,
    url: `mqtt://${host}:${port}`,
    ...(tlsUrl ? { tlsUrl } : {}),
    aedes,
    queues,
    async stop() {
      if (stopped) return;
      stopped = true;
      const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await Promise.all(closed);
    },
  };
}

type AuthorizePublish = NonNullable<AedesOptions['authorizePublish']>;

/** Refuses a QoS 1/2 publish (after the ACL check) that would queue more for a session already at its bound. */
function boundedQueues(queues: SessionQueueBound, acl: AuthorizePublish | undefined, onDenied?: (what: string) => void): AuthorizePublish {
  return (client, packet, done) => {
    const check = (err?: Error | null): void => {
      if (err) return done(err);
      // the broker's own messages (client null) and QoS 0 are never queued for an offline session
      if (!client || packet.qos === 0) return done(null);
      queues.fullSessionsFor(packet.topic).then(
        (full) => {
          if (!full.length) return done(null);
          queues.hold(client.id);
          onDenied?.(`publish to ${packet.topic} refused (client ${client.id}): ${full.join(', ')} already ${full.length > 1 ? 'hold' : 'holds'} ${queues.maxBytes} bytes queued; the publisher keeps it until they drain`);
          done(new Error(`the broker's queue for ${full.join(', ')} is full`));
        },
        (e: unknown) => done(e instanceof Error ? e : new Error(String(e))),
      );
    };
    if (acl) acl(client, packet, check);
    else check(null);
  };
}

type Authenticate = NonNullable<AedesOptions['authenticate']>;

/** After the credentials check: a publisher cut for a full session queue waits at CONNECT (0x03) until it drains. */
function holdCutPublishers(queues: SessionQueueBound, credentials: Authenticate | undefined, onDenied?: (what: string) => void): Authenticate {
  return (client, username, password, done) => {
    const check = (err: AuthenticateError | null, ok?: boolean | null): void => {
      if (err || !ok) return done(err, ok ?? false);
      if (!queues.isHeld(client.id)) return done(null, true);
      onDenied?.(`client ${client.id} refused at connect ("server unavailable"): a session it publishes to still holds its queue bound`);
      done(Object.assign(new Error('server unavailable'), { returnCode: 3 }) as AuthenticateError, false);
    };
    if (credentials) credentials(client, username, password, check);
    else check(null, true);
  };
}

/** What guardPacketSizes needs of aedes' client (aedes 1.2 lib/client.js): its parser and whether CONNACK went out. */
interface AedesClientInternals {
  connected: boolean;
  _parser: { parse(chunk: Uint8Array): number };
}

/**
 * Every byte aedes reads goes through its parser's parse(): the guard sees each chunk first and closes the
 * connection on a packet over the limit (maxConnectBytes until the client is logged in, its afterLogin limit then) before
 * aedes buffers any of its body.
 */
function guardPacketSizes(client: AedesClientInternals, socket: Socket, beforeLogin: number, afterLogin: (client: object) => number, onDenied?: (what: string) => void): void {
  const limit = (): number => (client.connected ? afterLogin(client) : beforeLogin);
  const guard = new PacketSizeGuard(limit);
  const parse = client._parser.parse.bind(client._parser);
  client._parser.parse = (chunk) => {
    const oversize = guard.feed(chunk);
    if (oversize === undefined) return parse(chunk);
    onDenied?.(`connection from ${socket.remoteAddress ?? '?'} closed: a packet of ${oversize} bytes ${client.connected ? 'after' : 'before'} login (limit ${limit()})`);
    socket.destroy();
    return 0;
  };
}
