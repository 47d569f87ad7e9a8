/**
 * `cleanstream broker` (the embedded aedes broker on its own, with users, ACLs and TLS), `cleanstream passwd`
 * (a password hash for the users file) and `cleanstream broker-acl` (the same users and rules for Mosquitto).
 */
import type { Command } from 'commander';
import { startBroker } from './broker.ts';
import { BrokerUsers, hashPassword } from './broker-auth.ts';
import { BROKER_LIMITS, type BrokerLimits } from './broker-limits.ts';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`expected a port number, got ${value}`);
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`expected a positive number, got ${value}`);
  return n;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** `username:password` lines, as chpasswd(8) takes them; the password is everything after the first colon. */
export function parsePasswordLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}

export function registerBrokerCommands(program: Command): void {
  program
    .command('broker')
    .description('run the embedded MQTT 3.1.1 broker (aedes) on its own')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'plain MQTT port', port, 1883)
    .option('--users <file>', 'users file (deploy/demo/broker-users.sample.yaml shows the format); without it anyone may connect and publish')
    .option('--tls-port <n>', 'also listen for MQTT over TLS on this port', port)
    .option('--tls-cert <file>', 'PEM certificate for the TLS listener')
    .option('--tls-key <file>', 'PEM private key for the TLS listener')
    .option('--tls-ca <file>', 'PEM CA bundle for client certificates: with it, every TLS client must present a certificate it signed (mutual TLS)')
    .option('--max-connect-bytes <n>', 'largest packet accepted before login (CONNECT); a larger one closes the connection', positive, BROKER_LIMITS.maxConnectBytes)
    .option('--max-packet-bytes <n>', 'largest packet accepted after login (size it to the largest reading batch)', positive, BROKER_LIMITS.maxPacketBytes)
    .option('--max-consumer-packet-bytes <n>', 'largest packet after login for ingest and rules users, which republish refused messages as dead letters (every client, without --users)', positive, BROKER_LIMITS.maxConsumerPacketBytes)
    .option('--connect-timeout-ms <n>', 'close a connection that has not sent CONNECT within this time', positive, BROKER_LIMITS.connectTimeoutMs)
    .option('--max-session-queue-bytes <n>', 'bytes queued for one persistent session (ingest stopped) before publishes to its topics are refused and stay with the gateways', positive, BROKER_LIMITS.maxSessionQueueBytes)
    .option('--connection-burst <n>', 'new connections one address may open at once', positive, BROKER_LIMITS.connectionBurst)
    .option('--connections-per-second <n>', 'new connections one address may open per second after the burst', positive, BROKER_LIMITS.connectionsPerSecond)
    .action(async (opts: { host: string; port: number; users?: string; tlsPort?: number; tlsCert?: string; tlsKey?: string; tlsCa?: string } & Record<keyof BrokerLimits, number>) => {
      if ((opts.tlsPort !== undefined || opts.tlsCert || opts.tlsKey) && !(opts.tlsCert && opts.tlsKey)) {
        throw new Error('TLS needs both --tls-cert and --tls-key');
      }
      const users = opts.users ? BrokerUsers.load(opts.users) : undefined;
      const limits: BrokerLimits = {
        maxConnectBytes: opts.maxConnectBytes,
        maxPacketBytes: opts.maxPacketBytes,
        maxConsumerPacketBytes: opts.maxConsumerPacketBytes,
        connectTimeoutMs: opts.connectTimeoutMs,
        maxSessionQueueBytes: opts.maxSessionQueueBytes,
        connectionBurst: opts.connectionBurst,
        connectionsPerSecond: opts.connectionsPerSecond,
      };
      const broker = await startBroker({
        host: opts.host,
        port: opts.port,
        limits,
        onDenied: (what: string) => console.warn(`broker: ${what}`),
        ...(users ? { users } : {}),
        ...(opts.tlsCert && opts.tlsKey ? { tls: { port: opts.tlsPort ?? 8883, certFile: opts.tlsCert, keyFile: opts.tlsKey, ...(opts.tlsCa ? { caFile: opts.tlsCa } : {}) } } : {}),
      });
      console.log(`broker listening on ${broker.url}${broker.tlsUrl ? ` and ${broker.tlsUrl}` : ''}${users ? ' (users and ACLs enforced)' : ' (no authentication: use --users in production)'}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await broker.stop();
    });

  program
    .command('passwd')
    .description('print a passwordHash for the broker users file; the password is read from standard input')
    .action(async () => {
      const password = await readStdin();
      if (!password) throw new Error('no password on standard input');
      console.log(hashPassword(password));
    });

  program
    .command('broker-acl')
    .description('print the users file as Mosquitto configuration: a dynamic-security JSON (--dynsec, binds client ids to users) or an acl_file')
    .requiredOption('--users <file>', 'the broker users file')
    .option('--dynsec', 'write the dynamic-security plugin\'s JSON (users, their client id, topic rules); passwords as `username:password` lines on standard input')
    .action(async (opts: { users: string; dynsec?: boolean }) => {
      const users = BrokerUsers.load(opts.users);
      if (!opts.dynsec) {
        process.stdout.write(users.mosquittoAcl());
        return;
      }
      const passwords = parsePasswordLines(process.stdin.isTTY ? '' : await readStdin());
      for (const name of users.usernames()) {
        if (passwords[name] === undefined) console.warn(`broker-acl: no password for ${name} on standard input: it cannot log in until exported again with one`);
      }
      process.stdout.write(JSON.stringify(users.mosquittoDynsec(passwords), null, 2) + '\n');
    });
}
