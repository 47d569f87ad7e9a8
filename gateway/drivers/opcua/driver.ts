/**
 * OPC UA input: one client, one session, a monitored item per configured node, spread over as many subscriptions as
 * `maxItemsPerSubscription` requires (OPC UA Part 4 §5.13 Subscription and §5.12 MonitoredItem service sets).
 *
 * Notifications of one publish response are gathered and emitted as one 'scan' (flushed on setImmediate, after
 * node-opcua has dispatched the whole NotificationMessage), not one event per value.
 *
 * Connection life cycle: start() resolves at once; connecting runs in the background with backoff. Once connected,
 * node-opcua's own reconnection repairs a broken channel, re-activates or re-creates the session and transfers or
 * re-creates the subscription (it handles a restarted server). As a safety net, the driver starts over from a new
 * client when node-opcua reports the subscription terminated or the session closed, or when no publish response
 * (data or keep-alive) has arrived for a long time.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  AttributeIds,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  makeBrowsePath,
  MessageSecurityMode,
  UserTokenType,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  type ClientMonitoredItemGroup,
  type ClientSession,
  type ClientSubscription,
  type DataValue,
} from 'node-opcua-client';
// The client packages only, not the node-opcua umbrella: that one also loads the server, its address space and the
// standard nodesets, megabytes of code and heap a gateway never uses.
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import { TransportError, toError, type CleanstreamError } from '../../../core/errors.ts';
import type { Reading } from '../../../core/reading.ts';
import { Backoff, cancellableDelay, DEVICE_RECONNECT_BACKOFF, type BackoffPolicy } from '../../../core/backoff.ts';
import type { DriverContext, DriverEvents, DriverState, InputDriver } from '../../driver.ts';
import type { OpcuaInputConfig, OpcuaNodeConfig } from './config.ts';
import { readingFromDataValue } from './readings.ts';

export const OPCUA_APPLICATION_NAME = 'cleanstream-gateway';

/** A certificate file as DER bytes: PEM (base64 between BEGIN/END CERTIFICATE lines) or DER as is. */
export function readCertificateFile(file: string): Buffer {
  const bytes = readFileSync(file);
  const pem = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(bytes.toString('latin1'));
  return pem ? Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64') : bytes;
}

/** Keep-alive every 10 publishing intervals; lifetime must be at least 3 keep-alives (Part 4 §5.13.2). */
const MAX_KEEP_ALIVE_COUNT = 10;
const LIFETIME_COUNT = 60;
/** Bound on closing a session while the server may be gone, so stop() never hangs. */
const TEARDOWN_TIMEOUT_MS = 3_000;

export interface OpcuaDriverOptions {
  backoff?: BackoffPolicy;
  /** Start over when no publish response arrived for this long; default max(3 keep-alive periods, 15 s). */
  silenceBeforeRebuildMs?: number;
}

/** Nodes that share sampling interval, queue size and deadband are created in one CreateMonitoredItems call. */
export interface MonitorGroup {
  samplingInterval: number;
  queueSize: number;
  deadband: OpcuaNodeConfig['deadband'];
  nodes: OpcuaNodeConfig[];
}

/** The DataChangeFilter of a deadband (Part 4 §7.22.2); without one the server reports every change of status or value. */
export function dataChangeFilter(deadband: OpcuaNodeConfig['deadband']): DataChangeFilter | null {
  if (!deadband) return null;
  return new DataChangeFilter({
    trigger: DataChangeTrigger.StatusValue,
    deadbandType: deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
    deadbandValue: deadband.value,
  });
}

/** A node's address for logs: its NodeId or browse path as configured. */
function nodeLabel(node: OpcuaNodeConfig): string {
  return node.nodeId ?? node.browsePath ?? '?';
}

export function monitorGroups(config: Pick<OpcuaInputConfig, 'nodes' | 'queueSize'>): MonitorGroup[] {
  // Grouping is by parameters only; each node keeps its own NodeId or browse path.
  const groups = new Map<string, MonitorGroup>();
  for (const node of config.nodes) {
    // -1: sample at the subscription's publishing interval (Part 4 §7.16 MonitoringParameters).
    const samplingInterval = node.samplingIntervalMs ?? -1;
    const queueSize = node.queueSize ?? config.queueSize;
    const key = `${samplingInterval}/${queueSize}/${node.deadband ? `${node.deadband.type}:${node.deadband.value}` : ''}`;
    let group = groups.get(key);
    if (!group) {
      group = { samplingInterval, queueSize, deadband: node.deadband, nodes: [] };
      groups.set(key, group);
    }
    group.nodes.push(node);
  }
  return [...groups.values()];
}

/**
 * Monitor groups dealt into subscriptions of at most `maxItems` items each, in config order; a group larger than
 * the room left is split (its parts keep the group's parameters).
 */
export function subscriptionShares(groups: readonly MonitorGroup[], maxItems: number): MonitorGroup[][] {
  const shares: MonitorGroup[][] = [];
  let share: MonitorGroup[] = [];
  let room = maxItems;
  for (const group of groups) {
    for (let at = 0; at < group.nodes.length; ) {
      if (room === 0) {
        shares.push(share);
        share = [];
        room = maxItems;
      }
      const nodes = group.nodes.slice(at, at + room);
      share.push({ ...group, nodes });
      at += nodes.length;
      room -= nodes.length;
    }
  }
  if (share.length) shares.push(share);
  return shares;
}

/** One connection attempt and what it built; torn down as a whole. */
interface Attempt {
  client: OPCUAClient;
  session?: ClientSession;
  subscriptions: ClientSubscription[];
  groups: ClientMonitoredItemGroup[];
  lastHeard: number;
  watchdog?: NodeJS.Timeout;
  /** Resolves with a reason when this attempt should be abandoned. */
  broken: Promise<string>;
  abandon: (reason: string) => void;
  closing?: Promise<void>;
}

export class OpcuaDriver extends EventEmitter<DriverEvents> implements InputDriver {
  readonly name: string;
  private readonly groups: MonitorGroup[];
  private readonly backoff: Backoff;
  private readonly silenceBeforeRebuildMs: number;
  private certificateManager: OPCUACertificateManager | undefined;
  private stopped = true;
  private abort = new AbortController();
  private attempt: Attempt | undefined;
  private loop: Promise<void> | undefined;
  private pending: Reading[] = [];
  private flushScheduled = false;
  private state: DriverState = 'disconnected';

  constructor(
    private readonly config: OpcuaInputConfig,
    private readonly context: DriverContext,
    options: OpcuaDriverOptions = {},
  ) {
    super();
    this.name = config.name ?? `opcua:${config.endpoint}`;
    this.groups = monitorGroups(config);
    this.backoff = new Backoff(options.backoff ?? DEVICE_RECONNECT_BACKOFF);
    this.silenceBeforeRebuildMs = options.silenceBeforeRebuildMs ?? Math.max(3 * MAX_KEEP_ALIVE_COUNT * config.publishingIntervalMs, 15_000);
  }

  /** The client's PKI folder: own/ (its certificate and key), trusted/, rejected/, issuers/. */
  get pkiDir(): string {
    return this.config.pki.dir ?? path.join(this.context.dataDir, 'pki', 'opcua-client');
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    if (this.attempt) {
      this.attempt.abandon('stopped');
      // Also cuts short a connect or session creation still in progress.
      void this.closeClient(this.attempt);
    }
    await this.loop;
    this.pending = [];
    await this.certificateManager?.dispose();
    this.certificateManager = undefined;
    this.emit('state', 'stopped');
  }

  private setState(state: DriverState): void {
    if (this.stopped || state === this.state) return;
    this.state = state;
    this.emit('state', state);
  }

  private report(err: CleanstreamError): void {
    if (!this.stopped) this.emit('error', err);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.setState('connecting');
      let attempt: Attempt | undefined;
      try {
        attempt = this.newAttempt(await this.newClient());
        this.attempt = attempt;
        if (this.stopped) break;
        await this.establish(attempt);
        if (this.stopped) break;
        this.backoff.reset();
        this.setState('connected');
        const reason = await attempt.broken;
        if (!this.stopped) {
          this.setState('disconnected');
          this.report(new TransportError('OPCUA_REBUILD', `opcua ${this.config.endpoint}: ${reason}; connecting again with a new session`, true, { endpoint: this.config.endpoint }));
        }
      } catch (err) {
        if (!this.stopped) {
          this.setState('disconnected');
          const cause = toError(err);
          this.report(new TransportError('OPCUA_CONNECT', `opcua ${this.config.endpoint}: ${cause.message.split('\n')[0]}${this.connectHint(cause.message)}`, true, { endpoint: this.config.endpoint }, { cause }));
        }
      } finally {
        if (attempt) await this.teardown(attempt);
        this.attempt = undefined;
      }
      if (this.stopped || !(await cancellableDelay(this.backoff.next(), this.abort.signal))) break;
    }
  }

  private async newClient(): Promise<OPCUAClient> {
    if (!this.certificateManager) {
      // Never the per-user default (~/.config/node-opcua-default): the gateway's state lives in its data dir.
      const certificateManager = new OPCUACertificateManager({
        rootFolder: this.pkiDir,
        automaticallyAcceptUnknownCertificate: this.config.pki.trustUnknownServerCertificate,
        disableFileWatchers: true,
      });
      await certificateManager.initialize();
      this.certificateManager = certificateManager;
    }
    const serverCertificateFile = this.config.pki.serverCertificateFile;
    const serverCertificate = serverCertificateFile ? readCertificateFile(serverCertificateFile) : undefined;
    if (serverCertificate) {
      // node-opcua checks the server's certificate against the trust list only when it fetches it from the server
      // itself; one given up front would be used untrusted. An unknown one lands in rejected/ here, as it would there.
      const status = await this.certificateManager.checkCertificate(serverCertificate);
      if (!status.isGood()) {
        // read the folders again at the next attempt: an operator moving the certificate to trusted/certs is then seen
        // without a restart (the manager watches no files)
        const stale = this.certificateManager;
        this.certificateManager = undefined;
        await stale.dispose();
        throw new Error(`the server certificate ${serverCertificateFile} is not trusted: ${status.toString()}`);
      }
    }
    return OPCUAClient.create({
      ...(serverCertificate ? { serverCertificate } : {}),
      applicationName: OPCUA_APPLICATION_NAME,
      clientName: `${OPCUA_APPLICATION_NAME}:${this.context.gatewayId}`,
      clientCertificateManager: this.certificateManager,
      securityMode: MessageSecurityMode[this.config.securityMode],
      securityPolicy: SecurityPolicy[this.config.securityPolicy],
      // Servers often advertise their host name rather than the address we dialled.
      endpointMustExist: false,
      keepSessionAlive: true,
      // The initial connect gives up quickly and is retried by run(), so stop() can interrupt it; once connected,
      // node-opcua retries a lost connection without limit, with these delays.
      connectionStrategy: { maxRetry: 1, initialDelay: DEVICE_RECONNECT_BACKOFF.initialMs, maxDelay: DEVICE_RECONNECT_BACKOFF.maxMs },
    });
  }

  /** What an operator can do about the usual security failures, named in the log line. */
  private connectHint(message: string): string {
    if (/BadCertificate|certificate.*(untrusted|rejected|invalid)|verif/i.test(message)) {
      return `; if the server's certificate is new, move it from ${path.join(this.pkiDir, 'rejected')} to ${path.join(this.pkiDir, 'trusted', 'certs')}; the server must also trust ours (${path.join(this.pkiDir, 'own', 'certs')})`;
    }
    if (/BadSecurityChecksFailed|BadSecurityPolicyRejected|BadCertificateUntrusted/i.test(message)) {
      return `; the server may not trust our certificate: add ${path.join(this.pkiDir, 'own', 'certs', 'client_certificate.pem')} to its trusted certificates`;
    }
    if (/BadUserAccessDenied|BadIdentityTokenInvalid|BadIdentityTokenRejected/i.test(message)) {
      return this.config.user ? `; check user ${JSON.stringify(this.config.user.username)} and its password` : '; the server does not accept anonymous users: configure user.username and user.password';
    }
    if (/endpoint/i.test(message) && this.config.securityMode !== 'None') {
      return `; the server may offer no endpoint with ${this.config.securityMode}/${this.config.securityPolicy}`;
    }
    return '';
  }

  private newAttempt(client: OPCUAClient): Attempt {
    let abandon: (reason: string) => void = () => {};
    const broken = new Promise<string>((resolve) => {
      abandon = resolve;
    });
    const attempt: Attempt = { client, subscriptions: [], groups: [], lastHeard: Date.now(), broken, abandon };
    client.on('connection_lost', () => {
      this.setState('disconnected');
      this.report(new TransportError('OPCUA_CONNECTION_LOST', `opcua ${this.config.endpoint}: connection lost; reconnecting`, true, { endpoint: this.config.endpoint }));
    });
    // Emitted once the new channel is up and the sessions on it were repaired (restored, or re-created with their
    // subscriptions); a session that could not be repaired abandons the attempt instead (see establish()).
    client.on('connection_reestablished', () => {
      attempt.lastHeard = Date.now();
      this.setState('connected');
    });
    client.on('start_reconnection', () => this.setState('connecting'));
    return attempt;
  }

  private async establish(attempt: Attempt): Promise<void> {
    const { client } = attempt;
    await client.connect(this.config.endpoint);
    if (this.stopped) return;
    const user = this.config.user;
    const session = await client.createSession(user ? { type: UserTokenType.UserName, userName: user.username, password: user.password } : { type: UserTokenType.Anonymous });
    attempt.session = session;
    session.on('session_closed', () => attempt.abandon('the server closed the session'));
    // After a new secure channel, node-opcua re-activates the session or, when the server no longer knows it (a
    // restarted server), creates a new one and re-creates the subscriptions on it; if neither works, start over.
    session.on('session_repaired_failed', (err: Error) => attempt.abandon(`the session could not be repaired after a reconnection (${err.message.split('\n')[0]})`));
    // Browse paths are resolved on every new session: a restarted server may have given the nodes new NodeIds.
    const nodeIds = await this.resolveNodeIds(session);
    const resolvedGroups = this.groups.map((group) => ({ ...group, nodes: group.nodes.filter((node) => nodeIds.has(node)) }));
    for (const share of subscriptionShares(resolvedGroups, this.config.maxItemsPerSubscription)) {
      if (this.stopped) return;
      const subscription = await this.createSubscription(session, attempt);
      for (const group of share) {
        if (this.stopped) return;
        await this.monitorGroup(subscription, group, nodeIds, attempt);
      }
    }
    attempt.lastHeard = Date.now();
    attempt.watchdog = setInterval(() => {
      if (Date.now() - attempt.lastHeard > this.silenceBeforeRebuildMs) {
        attempt.abandon(`no publish response for ${Math.round((Date.now() - attempt.lastHeard) / 1000)} s`);
      }
    }, Math.min(5_000, this.silenceBeforeRebuildMs));
    attempt.watchdog.unref();
  }

  /**
   * One subscription (Part 4 §5.13.2). maxNotificationsPerPublish 0 asks for no limit, but servers apply their own
   * (node-opcua: 1,000 per NotificationMessage); the rest follows in further publish responses, which is why large
   * inputs are spread over several subscriptions rather than queued behind one.
   */
  private async createSubscription(session: ClientSession, attempt: Attempt): Promise<ClientSubscription> {
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: this.config.publishingIntervalMs,
      requestedMaxKeepAliveCount: MAX_KEEP_ALIVE_COUNT,
      requestedLifetimeCount: LIFETIME_COUNT,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 1,
    });
    attempt.subscriptions.push(subscription);
    subscription.on('raw_notification', () => {
      attempt.lastHeard = Date.now();
    });
    subscription.on('terminated', () => attempt.abandon('the subscription was terminated'));
    return subscription;
  }

  /** CreateMonitoredItems (Part 4 §5.12.2) for nodes sharing their parameters; each failed item is reported. */
  private async monitorGroup(subscription: ClientSubscription, group: MonitorGroup, nodeIds: Map<OpcuaNodeConfig, string>, attempt: Attempt): Promise<void> {
    const nodes = group.nodes;
    if (nodes.length === 0) return;
    const monitored = await subscription.monitorItems(
      nodes.map((node) => ({ nodeId: nodeIds.get(node)!, attributeId: AttributeIds.Value })),
      { samplingInterval: group.samplingInterval, queueSize: group.queueSize, discardOldest: true, filter: dataChangeFilter(group.deadband) },
      TimestampsToReturn.Both,
    );
    attempt.groups.push(monitored);
    monitored.on('changed', (_item, dataValue: DataValue, index: number) => {
      const node = nodes[index];
      if (node) this.collect(readingFromDataValue(node, dataValue, Date.now()));
    });
    monitored.monitoredItems.forEach((item, index) => {
      if (item.statusCode.isNotGood()) {
        const node = nodes[index];
        this.report(
          new TransportError('OPCUA_MONITOR', `opcua ${this.config.endpoint}: cannot monitor ${node ? nodeLabel(node) : '?'}: ${item.statusCode.toString()}`, false, {
            endpoint: this.config.endpoint,
            nodeId: node ? nodeLabel(node) : undefined,
            statusCode: item.statusCode.value,
          }),
        );
      }
    });
  }

  /** NodeIds of the configured nodes; a browse path that does not resolve is reported and its node left out. */
  private async resolveNodeIds(session: ClientSession): Promise<Map<OpcuaNodeConfig, string>> {
    const nodeIds = new Map<OpcuaNodeConfig, string>();
    const byPath: OpcuaNodeConfig[] = [];
    for (const node of this.config.nodes) {
      if (node.nodeId !== undefined) nodeIds.set(node, node.nodeId);
      else byPath.push(node);
    }
    if (byPath.length === 0) return nodeIds;
    const results = await session.translateBrowsePath(byPath.map((node) => makeBrowsePath('RootFolder', node.browsePath!)));
    results.forEach((result, i) => {
      const node = byPath[i]!;
      const target = result.targets?.[0]?.targetId;
      if (result.statusCode.isGood() && target) {
        nodeIds.set(node, target.toString());
        return;
      }
      this.report(
        new TransportError('OPCUA_BROWSE_PATH', `opcua ${this.config.endpoint}: browse path ${node.browsePath} does not resolve: ${result.statusCode.toString()}`, false, {
          endpoint: this.config.endpoint,
          nodeId: node.browsePath,
          statusCode: result.statusCode.value,
        }),
      );
    });
    return nodeIds;
  }

  private collect(reading: Reading): void {
    if (this.stopped) return;
    this.pending.push(reading);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const readings = this.pending;
      this.pending = [];
      if (!this.stopped && readings.length) this.emit('scan', readings);
    });
  }

  private async teardown(attempt: Attempt): Promise<void> {
    clearInterval(attempt.watchdog);
    for (const group of attempt.groups) group.removeAllListeners('changed');
    attempt.abandon('torn down');
    await this.closeClient(attempt);
  }

  /** Disconnect once, bounded in time: the server may be gone and closing the session would wait for it. */
  private closeClient(attempt: Attempt): Promise<void> {
    attempt.closing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const disconnect = attempt.client.disconnect().catch(() => {
        // Nothing more to release on our side.
      });
      await Promise.race([disconnect, new Promise<void>((resolve) => (timer = setTimeout(resolve, TEARDOWN_TIMEOUT_MS)))]);
      clearTimeout(timer);
    })();
    return attempt.closing;
  }
}
