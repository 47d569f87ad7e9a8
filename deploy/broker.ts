/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1) that `cleanstream up` and the tests use when no external broker is
 * given. In production any MQTT 3.1.1/5 broker works; deploy/ documents Mosquitto.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import { TransportError } from '../core/errors.ts';

export interface BrokerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Hooks for authentication and topic ACLs (see aedes' authenticate/authorizePublish/authorizeSubscribe). */
  aedes?: Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>;
}

export interface RunningBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly aedes: Aedes;
  stop(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const host = options.host ?? '127.0.0.1';
  const aedes = await Aedes.createBroker({ ...options.aedes });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new TransportError('BROKER_LISTEN', `cannot listen on ${host}:${options.port ?? 0}: ${err.message}`, false, { host, port: options.port }, { cause: err })));
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  let stopped = false;
  return {
    host,
    port,
    url: `mqtt://${host}:${port}`,
    aedes,
    async stop() {
      if (stopped) return;
      stopped = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await closed;
    },
  };
}
