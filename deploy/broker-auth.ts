/**
 * Broker authentication and topic ACLs, one model for the embedded aedes broker and for Mosquitto.
 *
 * A users file lists MQTT users with a scrypt password hash and a role. The role decides what the user may publish
 * and subscribe to, in the topic scheme of core/topics.ts:
 *   gateway    publish readings/{each of its plants}/{its gateway id}, status/{its id} and status/{its id}/health; subscribe nothing
 *   ingest     subscribe readings (also as a shared subscription); publish deadletter/ingest
 *   rules      subscribe readings, alerts and alert-acks; publish alerts and deadletter/rules
 *   dashboard  subscribe readings, alerts, status and health; publish alert-acks
 *   admin      everything
 * So a gateway cannot publish into another plant's topics, nor read anything, and nothing but a gateway can
 * inject readings. `mosquittoAcl()` writes the same rules as a Mosquitto acl_file.
 */
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import { idSchema, loadConfigFile } from '../core/config.ts';
import { TOPIC_ROOT } from '../core/topics.ts';
import { ConfigError } from '../core/errors.ts';

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
});
export const brokerUsersSchema = z.strictObject({ users: z.array(userSchema) });
export type BrokerUser = z.output<typeof userSchema>;

const SCRYPT_KEYLEN = 32;

export function hashPassword(password: string, salt: Buffer = randomBytes(16)): string {
  const hash = scryptSync(password, salt, SCRYPT_KEYLEN);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
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
    return new BrokerUsers(parsed.users);
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
  aedesHooks(onDenied?: (what: string) => void): Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'> {
    const byClient = new WeakMap<Client, BrokerUser>();
    return {
      authenticate: (client, username, password, done) => {
        const user = this.authenticate(username ?? undefined, password ?? undefined);
        if (!user) {
          onDenied?.(`authentication failed for user ${JSON.stringify(username ?? '')} (client ${client.id})`);
          const err = Object.assign(new Error('bad username or password'), { returnCode: 4 }) as AuthenticateError;
          done(err, false);
          return;
        }
        byClient.set(client, user);
        done(null, true);
      },
      authorizePublish: (client, packet, done) => {
        // client is null for messages the broker publishes itself (e.g. $SYS); those are not ACL-checked.
        if (!client) return done(null);
        const user = byClient.get(client);
        if (user && this.mayPublish(user, packet.topic)) return done(null);
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
}
