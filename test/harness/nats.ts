/**
 * A real NATS JetStream cluster (Debian's nats-server 2.9.10, a server we did not write) for tests and benches: three
 * nodes on free loopback ports, each with a client, a cluster (routes to the others) and an MQTT 3.1.1 listener, a
 * monitoring port, JetStream in a temp folder, and readings partitioned by plant (bus/nats/subjects.ts). Resolves once
 * the JetStream meta leader is elected; a node can be stopped, killed and started again on its ports and store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_PARTITIONS, partitionMappingConfig } from '../../bus/nats/subjects.ts';
import { freePort } from './ports.ts';
import { until } from './wait.ts';

export const NATS_SERVER = '/usr/sbin/nats-server';

export interface NatsNode {
  readonly name: string;
  /** `nats://127.0.0.1:port` */
  readonly url: string;
  /** `mqtt://127.0.0.1:port`: the node's MQTT 3.1.1 listener. */
  readonly mqttUrl: string;
  readonly running: boolean;
  /** What the node has logged (errors and warnings). */
  readonly log: string;
  /** SIGTERM (a clean shutdown), wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** Start again on the same ports and store; resolves once the cluster has a meta leader again. */
  start(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly NatsNode[];
  /** Client URLs of every node, for a client that fails over. */
  readonly servers: string[];
  readonly partitions: number;
  /** The current JetStream meta leader's server name, as a running node reports it. */
  metaLeader(): Promise<string | undefined>;
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Partitions of readings (default 16). */
  partitions?: number;
  /** Nodes (default 3). */
  size?: number;
}

interface NodePorts {
  client: number;
  cluster: number;
  mqtt: number;
  http: number;
}

async function jsz(httpPort: number): Promise<{ meta_cluster?: { leader?: string; cluster_size?: number } } | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/jsz`, { signal: AbortSignal.timeout(1000) });
    return res.ok ? ((await res.json()) as { meta_cluster?: { leader?: string } }) : undefined;
  } catch {
    return undefined;
  }
}

export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const partitions = options.partitions ?? DEFAULT_PARTITIONS;
  const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-nats-'));
  const ports: NodePorts[] = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), cluster: await freePort(), mqtt: await freePort(), http: await freePort() });
  const mapping = partitionMappingConfig(partitions);

  const nodes = ports.map((own, i) => {
    const name = `n${i + 1}`;
    const store = path.join(dir, name);
    mkdirSync(store);
    const routes = ports.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p.cluster}`);
    const confFile = path.join(dir, `${name}.conf`);
    writeFileSync(
      confFile,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${own.client}`,
        `http: 127.0.0.1:${own.http}`,
        `jetstream { store_dir: "${store}" }`,
        `cluster { name: cleanstream, listen: 127.0.0.1:${own.cluster}, routes: [${routes.join(', ')}] }`,
        `mqtt { listen: 127.0.0.1:${own.mqtt} }`,
        mapping,
      ].join('\n'),
    );
    let child: ChildProcess | undefined;
    let log = '';
    const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
    const end = async (signal: NodeJS.Signals): Promise<void> => {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill(signal);
      await exited;
    };
    const node = {
      name,
      url: `nats://127.0.0.1:${own.client}`,
      mqttUrl: `mqtt://127.0.0.1:${own.mqtt}`,
      get running() {
        return running();
      },
      get log() {
        return log;
      },
      launch(): void {
        const proc = spawn(NATS_SERVER, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
        child = proc;
        proc.stderr?.on('data', (d: Buffer) => {
          log += d.toString();
          if (process.env.NATS_DEBUG) process.stderr.write(`[${name}] ${d.toString()}`);
        });
      },
      /** Resolves once this node answers /jsz with a meta leader; names the node and its log when it does not. */
      async ready(timeoutMs = 15_000): Promise<void> {
        await until(
          () => `nats-server ${name} (client port ${own.client}) to see a JetStream meta leader; its log: ${log.trim().slice(-2000) || '(empty)'}`,
          async () => {
            if (!running()) throw new Error(`nats-server ${name} exited (${String(child?.exitCode ?? child?.signalCode)}): ${log.trim().slice(-2000)}`);
            return Boolean((await jsz(own.http))?.meta_cluster?.leader);
          },
          timeoutMs,
          50,
        );
      },
      stop: () => end('SIGTERM'),
      kill: () => end('SIGKILL'),
      async start(): Promise<void> {
        if (running()) return;
        node.launch();
        await node.ready();
      },
    };
    return node;
  });

  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const node of nodes) node.launch();
    await Promise.all(nodes.map((n) => n.ready()));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    nodes: nodes.map(({ name, url, mqttUrl, stop: s, kill, start }, i) => ({
      name,
      url,
      mqttUrl,
      get running() {
        return nodes[i]!.running;
      },
      get log() {
        return nodes[i]!.log;
      },
      stop: s,
      kill,
      start,
    })),
    servers: nodes.map((n) => n.url),
    partitions,
    async metaLeader() {
      for (let i = 0; i < nodes.length; i++) {
        if (!nodes[i]!.running) continue;
        const leader = (await jsz(ports[i]!.http))?.meta_cluster?.leader;
        if (leader) return leader;
      }
      return undefined;
    },
    stop,
  };
}
