/**
 * Broker authentication and topic ACLs, one model for the embedded aedes broker and for Mosquitto.
 *
 * A users file lists MQTT users with a scrypt password hash and a role. The role decides what the user may publish
 * and subscribe to, in the topic scheme of bus/topics.ts:
 *   gateway    publish readings/{each of its plants}/{its gateway id}, status/{its id} and status/{its id}/health; subscribe nothing
 *   ingest     subscribe readings (also as a shared subscription); publish deadletter/ingest
 *   rules      subscribe readings, alerts and alert-acks; publish alerts and deadletter/rules
 *   dashboard  subscribe readings, alerts, status and health; publish alert-acks
 *   admin      everything
 * So a gateway cannot publish into another plant's topics, nor read anything, and nothing but a gateway can
 * inject readings. Readings and alert acknowledgements may not be published retained (a retained reading would be
 * delivered again to every new subscriber): the embedded broker refuses such a publish.
 *
 * Client ids are bound to users: a user may connect only with one of its own client ids, so that nobody can take over
 * another client's session (its queued messages) or disconnect it by connecting with its id. `clientIds` and
 * `clientIdPrefixes` say which; without them a user owns its username, ids starting with `<username>-`, and the id its
 * role's component uses by default (`defaultClientIds`). No id may belong to two users (checked at load).
 *
 * `mosquittoAcl()` writes the topic rules as a Mosquitto acl_file; `mosquittoDynsec()` writes users, client ids and
 * topic rules as the configuration of Mosquitto's dynamic-security plugin, which also binds client ids.
 */
import { pbkdf2Sync, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import { idSchema, loadConfigFile } from '../core/config.ts';
import { TOPIC_ROOT } from './topics.ts';
import { CleanstreamError, ConfigError } from '../core/errors.ts';

export const ROLES = ['gateway', 'ingest', 'rules', 'dashboard', 'admin'] as const;
export type BrokerRole = (typeof ROLES)[number];

const userSchema = z.strictObject({
  username: z.string().min(1),
  /** `scrypt$<salt base64>$<hash base64>`, made by `hashPassword` (`cleanstream passwd`). */
  passwordHash: z.string().regex(/^scrypt\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, { message: 'expected scrypt$<salt>$<hash> as printed by `cleanstream passwd`' }),
  role: z.enum(ROLES),
  /** For role gateway: its gateway id (defaults to the username) and the plants it may publish for. */
  gateway: idSchema.optional(),
  plants: z.array(idSchema).optional(),
  /** The MQTT client ids this user may connect with: exact ids, and prefixes. Either replaces the default set. */
  clientIds: z.array(z.string().min(1).max(128)).min(1).optional(),
  clientIdPrefixes: z.array(z.string().min(1).max(128)).min(1).optional(),
});
export const brokerUsersSchema = z.strictObject({ users: z.array(userSchema) });
export type BrokerUser = z.output<typeof userSchema>;

const SCRYPT_KEYLEN = 32;

export function hashPassword(password: string, salt: Buffer = randomBytes(16)): string {
  const hash = scryptSync(password, salt, SCRYPT_KEYLEN);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/**
 * The same check off the event loop (scrypt on libuv's thread pool): the broker serves every client from one thread,
 * and a synchronous scrypt (~50 ms) per CONNECT with a wrong password let anyone who knew a username stall them all.
 */
export async function verifyPasswordAsync(password: string, stored: string): Promise<boolean> {
  const [scheme, saltB64, hashB64] = stored.split('$');
  if (scheme !== 'scrypt' || !saltB64 || !hashB64) return false;
  const expected = Buffer.from(hashB64, 'base64');
  const actual = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password, Buffer.from(saltB64, 'base64'), expected.length, (err, key) => (err ? reject(err) : resolve(key))),
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function verifyPassword(password: string, stored: string): boolean {
  const [scheme, saltB64, hashB64] = stored.split('$');
  if (scheme !== 'scrypt' || !saltB64 || !hashB64) return false;
  const expected = Buffer.from(hashB64, 'base64');
  const actual = scryptSync(password, Buffer.from(saltB64, 'base64'), expected.length);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export interface TopicRules {
  publish: string[];
  subscribe: string[];
}

export function topicRules(user: BrokerUser): TopicRules {
  const r = TOPIC_ROOT;
  switch (user.role) {
    case 'gateway': {
      const gw = user.gateway ?? user.username;
      return { publish: [...(user.plants ?? []).map((p) => `${r}/readings/${p}/${gw}`), `${r}/status/${gw}`, `${r}/status/${gw}/health`], subscribe: [] };
    }
    case 'ingest':
      return { publish: [`${r}/deadletter/ingest`], subscribe: [`${r}/readings/+/+`] };
    case 'rules':
      return { publish: [`${r}/alerts/#`, `${r}/deadletter/rules`], subscribe: [`${r}/readings/+/+`, `${r}/alerts/#`, `${r}/alert-acks/#`] };
    case 'dashboard':
      // The dashboard forwards a regulator's or operator's acknowledgement to rules.
      return { publish: [`${r}/alert-acks/#`], subscribe: [`${r}/readings/+/+`, `${r}/alerts/#`, `${r}/status/#`] };
    case 'admin':
      return { publish: ['#'], subscribe: ['#'] };
  }
}

/** Topics the design publishes not retained; a retained publish to them is refused whoever sends it. */
export const NOT_RETAINED_TOPICS = [`${TOPIC_ROOT}/readings/+/+`, `${TOPIC_ROOT}/alert-acks/#`];

export function mayRetain(topic: string): boolean {
  return !NOT_RETAINED_TOPICS.some((f) => topicMatches(f, topic));
}

/** The client ids a user may connect with: `exact` ids and ids starting with one of `prefixes`. */
export interface ClientIdRules {
  exact: string[];
  prefixes: string[];
}

/**
 * The ids the project's own components use by default for a role (gateway/publisher.ts `cleanstream-<gateway id>`,
 * ingest `cleanstream-ingest`, rules `cleanstream-rules` and `cleanstream-rules-<partition|recover-pid>`, dashboards
 * `cleanstream-dashboard-<random>`), so that a users file without `clientIds` works with default component configs.
 */
export function defaultClientIds(user: BrokerUser): ClientIdRules {
  const own = { exact: [user.username], prefixes: [`${user.username}-`] };
  switch (user.role) {
    case 'gateway':
      return { exact: [`cleanstream-${user.gateway ?? user.username}`, ...own.exact], prefixes: own.prefixes };
    case 'ingest':
      return { exact: ['cleanstream-ingest', ...own.exact], prefixes: own.prefixes };
    case 'rules':
      return { exact: ['cleanstream-rules', ...own.exact], prefixes: ['cleanstream-rules-', ...own.prefixes] };
    case 'dashboard':
      return { exact: ['cleanstream-dashboard', ...own.exact], prefixes: ['cleanstream-dashboard-', ...own.prefixes] };
    case 'admin':
      return own;
  }
}

export function clientIdRules(user: BrokerUser): ClientIdRules {
  if (!user.clientIds && !user.clientIdPrefixes) return defaultClientIds(user);
  return { exact: user.clientIds ?? [], prefixes: user.clientIdPrefixes ?? [] };
}

export function ownsClientId(rules: ClientIdRules, clientId: string): boolean {
  return rules.exact.includes(clientId) || rules.prefixes.some((p) => clientId.startsWith(p));
}

/** An id both rule sets allow, if any: two users that could both connect with it could take over each other. */
function sharedClientId(a: ClientIdRules, b: ClientIdRules): string | undefined {
  for (const id of a.exact) if (ownsClientId(b, id)) return id;
  for (const id of b.exact) if (ownsClientId(a, id)) return id;
  for (const p of a.prefixes) for (const q of b.prefixes) if (p.startsWith(q) || q.startsWith(p)) return `${p.length >= q.length ? p : q}...`;
  return undefined;
}

/** Mosquitto's dynamic-security password format: PBKDF2-SHA512, 64 bytes, base64 (as `mosquitto_ctrl` writes it). */
function dynsecPassword(password: string): { password: string; salt: string; iterations: number } {
  const salt = randomBytes(12);
  const iterations = 101;
  return { password: pbkdf2Sync(password, salt, iterations, 64, 'sha512').toString('base64'), salt: salt.toString('base64'), iterations };
}

/** Whether a topic name matches a filter (MQTT 3.1.1 §4.7: `+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Whether every topic that `requested` can match is also matched by `allowed`. */
export function filterCovers(allowed: string, requested: string): boolean {
  const a = allowed.split('/');
  const q = requested.split('/');
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '#') return true;
    if (i >= q.length) return false;
    if (q[i] === '#') return false;
    if (a[i] !== '+' && a[i] !== q[i]) return false;
  }
  return a.length === q.length;
}

/** `$share/<group>/<filter>` (MQTT 5 §4.8.2) is judged by its filter. */
function stripShare(filter: string): string {
  const m = /^\$share\/[^/]+\/(.+)$/.exec(filter);
  return m?.[1] ?? filter;
}

export class BrokerUsers {
  private readonly users = new Map<string, BrokerUser>();

  constructor(users: BrokerUser[]) {
    for (const u of users) this.users.set(u.username, u);
  }

  static load(file: string): BrokerUsers {
    const parsed = loadConfigFile(file, brokerUsersSchema);
    parsed.users.forEach((u, i) => {
      if (u.role === 'gateway' && !(u.plants && u.plants.length)) {
        throw new ConfigError(file, [{ path: `users[${i}].plants`, expected: 'the plants this gateway may publish for (a gateway user needs at least one)' }]);
      }
    });
    const issues = BrokerUsers.clientIdConflicts(parsed.users);
    if (issues.length) throw new ConfigError(file, issues);
    return new BrokerUsers(parsed.users);
  }

  /** Users that could connect with the same client id (and so take over each other's sessions). */
  static clientIdConflicts(users: BrokerUser[]): { path: string; expected: string }[] {
    const issues: { path: string; expected: string }[] = [];
    const rules = users.map(clientIdRules);
    for (let i = 0; i < users.length; i++) {
      for (let j = 0; j < i; j++) {
        const id = sharedClientId(rules[i]!, rules[j]!);
        if (id === undefined) continue;
        issues.push({
          path: `users[${i}].clientIds`,
          expected: `client ids no other user may use: ${users[i]!.username} and users[${j}] ${users[j]!.username} may both connect as ${JSON.stringify(id)} (set clientIds/clientIdPrefixes on one of them)`,
        });
      }
    }
    return issues;
  }

  usernames(): string[] {
    return [...this.users.keys()];
  }

  mayUseClientId(user: BrokerUser, clientId: string): boolean {
    return ownsClientId(clientIdRules(user), clientId);
  }

  /** The user these credentials log in as, checked off the event loop (see verifyPasswordAsync). */
  async authenticateAsync(username: string | undefined, password: Buffer | undefined): Promise<BrokerUser | undefined> {
    if (!username || !password) return undefined;
    const user = this.users.get(username);
    if (!user) return undefined;
    return (await verifyPasswordAsync(password.toString('utf8'), user.passwordHash)) ? user : undefined;
  }

  authenticate(username: string | undefined, password: Buffer | undefined): BrokerUser | undefined {
    if (!username || !password) return undefined;
    const user = this.users.get(username);
    if (!user) return undefined;
    return verifyPassword(password.toString('utf8'), user.passwordHash) ? user : undefined;
  }

  mayPublish(user: BrokerUser, topic: string): boolean {
    return topicRules(user).publish.some((f) => topicMatches(f, topic));
  }

  maySubscribe(user: BrokerUser, filter: string): boolean {
    const plain = stripShare(filter);
    return topicRules(user).subscribe.some((f) => filterCovers(f, plain));
  }

  /** aedes hooks. A refused publish closes the client's connection (MQTT 3.1.1 has no negative PUBACK). */
  aedesHooks(onDenied?: (what: string) => void, onLogin?: (client: Client, user: BrokerUser) => void): Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'> {
    const byClient = new WeakMap<Client, BrokerUser>();
    return {
      authenticate: (client, username, password, done) => {
        void this.authenticateAsync(username ?? undefined, password ?? undefined).then((user) => {
          if (!user) {
            onDenied?.(`authentication failed for user ${JSON.stringify(username ?? '')} (client ${client.id})`);
            const err = Object.assign(new Error('bad username or password'), { returnCode: 4 }) as AuthenticateError;
            done(err, false);
            return;
          }
          // aedes runs this hook before it looks for an existing session with this id, so a refusal here leaves the
          // owner's session, its queued messages and its live connection alone.
          if (!this.mayUseClientId(user, client.id)) {
            onDenied?.(`client id ${JSON.stringify(client.id)} refused for user ${user.username}: not one of its client ids`);
            const err = Object.assign(new Error('identifier rejected'), { returnCode: 2 }) as AuthenticateError;
            done(err, false);
            return;
          }
          byClient.set(client, user);
          onLogin?.(client, user);
          done(null, true);
        }, (err: unknown) => done(Object.assign(new Error(`authentication failed: ${(err as Error).message}`), { returnCode: 4 }) as AuthenticateError, false));
      },
      authorizePublish: (client, packet, done) => {
        // client is null for messages the broker publishes itself (e.g. $SYS); those are not ACL-checked.
        if (!client) return done(null);
        const user = byClient.get(client);
        if (user && this.mayPublish(user, packet.topic)) {
          if (!packet.retain || mayRetain(packet.topic)) return done(null);
          onDenied?.(`retained publish to ${packet.topic} refused for user ${user.username} (client ${client.id}): this topic is never retained`);
          return done(new Error(`${packet.topic} is not published retained`));
        }
        onDenied?.(`publish to ${packet.topic} refused for user ${user?.username ?? '?'} (client ${client.id})`);
        done(new Error(`not authorised to publish to ${packet.topic}`));
      },
      authorizeSubscribe: (client, subscription, done) => {
        const user = byClient.get(client);
        if (user && this.maySubscribe(user, subscription.topic)) return done(null, subscription);
        onDenied?.(`subscribe to ${subscription.topic} refused for user ${user?.username ?? '?'} (client ${client.id})`);
        // A null subscription makes aedes answer SUBACK 0x80 (failure) for it, per MQTT 3.1.1 §3.9.3.
        done(null, null);
      },
    };
  }

  /** The same rules as a Mosquitto acl_file (passwords go in a mosquitto_passwd file of its own format). */
  mosquittoAcl(): string {
    const out: string[] = ['# generated by cleanstream from the broker users file: same rules as the embedded broker', ''];
    for (const user of this.users.values()) {
      const rules = topicRules(user);
      out.push(`user ${user.username}`);
      for (const t of rules.publish) out.push(`topic write ${t}`);
      for (const t of rules.subscribe) out.push(`topic read ${t}`);
      out.push('');
    }
    return out.join('\n');
  }

  /**
   * The users, their client ids and topic rules as the configuration file of Mosquitto's dynamic-security plugin
   * (`plugin_opt_config_file`). Dynamic security binds one exact client id to a user (its `clientid`) and knows no
   * prefixes: each user gets the first of its exact ids. Every user is bound, since dynamic security only checks a
   * bound user's id: an unbound one could connect with anyone's. Passwords (plain, from `passwords`) are hashed in
   * the plugin's own format; a user without one cannot log in (export again with its password).
   * Dynamic security cannot tell a retained publish from another: on Mosquitto, NOT_RETAINED_TOPICS is enforced by the
   * guard plugin (deploy/mosquitto/plugin/, its `no_retain_topics`).
   */
  mosquittoDynsec(passwords: Record<string, string> = {}): MosquittoDynsecConfig {
    const clients: MosquittoDynsecConfig['clients'] = [];
    const roles: MosquittoDynsecConfig['roles'] = [];
    for (const user of this.users.values()) {
      const rules = topicRules(user);
      const rolename = `cleanstream-${user.username}`;
      roles.push({
        rolename,
        acls: [
          ...rules.publish.map((topic) => ({ acltype: 'publishClientSend', topic, priority: 0, allow: true })),
          ...rules.subscribe.flatMap((topic) => [
            { acltype: 'subscribePattern', topic, priority: 0, allow: true },
            // Dynamic security judges a shared subscription by its whole filter, `$share/<group>/` included.
            { acltype: 'subscribePattern', topic: `$share/+/${topic}`, priority: 0, allow: true },
            { acltype: 'publishClientReceive', topic, priority: 0, allow: true },
          ]),
        ],
      });
      const password = passwords[user.username];
      clients.push({
        username: user.username,
        clientid: boundClientId(user),
        ...(password === undefined ? {} : dynsecPassword(password)),
        roles: [{ rolename }],
      });
    }
    return {
      defaultACLAccess: { publishClientSend: false, publishClientReceive: false, subscribe: false, unsubscribe: true },
      clients,
      groups: [],
      roles,
    };
  }
}

/** The one client id a user is bound to where only one is possible (Mosquitto's dynamic security). */
export function boundClientId(user: BrokerUser): string {
  const id = clientIdRules(user).exact[0];
  if (id === undefined) {
    throw new CleanstreamError('BROKER_NO_EXACT_CLIENT_ID', `user ${user.username} has only client id prefixes; Mosquitto's dynamic security binds one exact id: add it to clientIds`, { username: user.username });
  }
  return id;
}

export interface MosquittoDynsecConfig {
  defaultACLAccess: Record<'publishClientSend' | 'publishClientReceive' | 'subscribe' | 'unsubscribe', boolean>;
  clients: { username: string; clientid: string; password?: string; salt?: string; iterations?: number; roles: { rolename: string }[] }[];
  groups: never[];
  roles: { rolename: string; acls: { acltype: string; topic: string; priority: number; allow: boolean }[] }[];
}
