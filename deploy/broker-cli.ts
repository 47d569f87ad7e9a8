/**
 * `cleanstream broker` (the embedded aedes broker on its own, with users, ACLs and TLS), `cleanstream passwd`
 * (a password hash for the users file) and `cleanstream broker-acl` (the same rules as a Mosquitto acl_file).
 */
import type { Command } from 'commander';
import { startBroker } from './broker.ts';
import { BrokerUsers, hashPassword } from './broker-auth.ts';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`expected a port number, got ${value}`);
  return n;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
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
    .option('--tls-ca <file>', 'PEM CA bundle for client certificates')
    .action(async (opts: { host: string; port: number; users?: string; tlsPort?: number; tlsCert?: string; tlsKey?: string; tlsCa?: string }) => {
      if ((opts.tlsPort !== undefined || opts.tlsCert || opts.tlsKey) && !(opts.tlsCert && opts.tlsKey)) {
        throw new Error('TLS needs both --tls-cert and --tls-key');
      }
      const users = opts.users ? BrokerUsers.load(opts.users) : undefined;
      const broker = await startBroker({
        host: opts.host,
        port: opts.port,
        ...(users ? { users, onDenied: (what: string) => console.warn(`broker: ${what}`) } : {}),
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
    .description('print the users file\'s topic rules as a Mosquitto acl_file')
    .requiredOption('--users <file>', 'the broker users file')
    .action((opts: { users: string }) => {
      process.stdout.write(BrokerUsers.load(opts.users).mosquittoAcl());
    });
}
