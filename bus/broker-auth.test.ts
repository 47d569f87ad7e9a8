import { describe, expect, it } from 'vitest';
import { BrokerUsers, boundClientId, clientIdRules, filterCovers, hashPassword, mayRetain, topicMatches, verifyPassword, type BrokerUser } from './broker-auth.ts';

describe('broker ACL model', () => {
  it('stores passwords as salted scrypt hashes and verifies them', () => {
    const stored = hashPassword('s3cret');
    expect(stored).not.toContain('s3cret');
    expect(hashPassword('s3cret')).not.toBe(stored);
    expect(verifyPassword('s3cret', stored)).toBe(true);
    expect(verifyPassword('s3cret ', stored)).toBe(false);
    expect(verifyPassword('s3cret', 'plain')).toBe(false);
  });

  it('matches topics and filters as MQTT 3.1.1 §4.7 says', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+/c', 'a/b/c/d')).toBe(false);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(filterCovers('a/+/+', 'a/b/+')).toBe(true);
    expect(filterCovers('a/+/+', 'a/#')).toBe(false);
    expect(filterCovers('a/b/c', 'a/+/c')).toBe(false);
  });

  it('writes the same rules as a Mosquitto acl_file', () => {
    const users = new BrokerUsers([
      { username: 'gw-1', passwordHash: hashPassword('x'), role: 'gateway', plants: ['paper-01', 'steel-01'] },
      { username: 'ingest', passwordHash: hashPassword('y'), role: 'ingest' },
    ]);
    expect(users.mosquittoAcl()).toContain(
      'user gw-1\ntopic write cleanstream/v1/readings/paper-01/gw-1\ntopic write cleanstream/v1/readings/steel-01/gw-1\ntopic write cleanstream/v1/status/gw-1\ntopic write cleanstream/v1/status/gw-1/health\n',
    );
    expect(users.mosquittoAcl()).toContain('user ingest\ntopic write cleanstream/v1/deadletter/ingest\ntopic read cleanstream/v1/readings/+/+\n');
  });

  const hash = hashPassword('x');
  const gateway: BrokerUser = { username: 'gw-1', passwordHash: hash, role: 'gateway', plants: ['paper-01'] };
  const ingest: BrokerUser = { username: 'ingest', passwordHash: hash, role: 'ingest' };
  const rules: BrokerUser = { username: 'rules', passwordHash: hash, role: 'rules' };
  const dashboard: BrokerUser = { username: 'dash', passwordHash: hash, role: 'dashboard' };

  it('binds by default the username, `<username>-…` and the id each component uses by default', () => {
    const users = new BrokerUsers([gateway, ingest, rules, dashboard]);
    expect(users.mayUseClientId(gateway, 'cleanstream-gw-1')).toBe(true); // gateway/publisher.ts default
    expect(users.mayUseClientId(gateway, 'gw-1')).toBe(true);
    expect(users.mayUseClientId(gateway, 'gw-1-test')).toBe(true);
    expect(users.mayUseClientId(gateway, 'cleanstream-ingest')).toBe(false);
    expect(users.mayUseClientId(ingest, 'cleanstream-ingest')).toBe(true);
    expect(users.mayUseClientId(ingest, 'cleanstream-ingest-2')).toBe(false);
    expect(users.mayUseClientId(rules, 'cleanstream-rules-p0of2')).toBe(true); // a partition
    expect(users.mayUseClientId(rules, 'cleanstream-rules-recover-4242')).toBe(true); // the retained-state reader
    expect(users.mayUseClientId(dashboard, 'cleanstream-dashboard-1a2b3c4d')).toBe(true);
    expect(users.mayUseClientId(dashboard, 'cleanstream-rules')).toBe(false);
    expect(BrokerUsers.clientIdConflicts([gateway, ingest, rules, dashboard])).toEqual([]);
  });

  it('replaces the defaults with clientIds/clientIdPrefixes when given', () => {
    const custom: BrokerUser = { ...ingest, clientIds: ['ingest-a'], clientIdPrefixes: ['plant-x-ingest-'] };
    expect(clientIdRules(custom)).toEqual({ exact: ['ingest-a'], prefixes: ['plant-x-ingest-'] });
    const users = new BrokerUsers([custom]);
    expect(users.mayUseClientId(custom, 'plant-x-ingest-7')).toBe(true);
    expect(users.mayUseClientId(custom, 'cleanstream-ingest')).toBe(false);
  });

  it('refuses a users file in which two users may connect with the same id', () => {
    const second: BrokerUser = { ...ingest, username: 'ingest-b' };
    expect(BrokerUsers.clientIdConflicts([ingest, second])).toEqual([
      expect.objectContaining({ path: 'users[1].clientIds', expected: expect.stringContaining('ingest-b and users[0] ingest may both connect as "cleanstream-ingest"') }),
    ]);
    expect(BrokerUsers.clientIdConflicts([ingest, { ...second, clientIds: ['ingest-b'] }])).toHaveLength(1); // `ingest-` is ingest's prefix
    expect(BrokerUsers.clientIdConflicts([ingest, { ...second, username: 'ingest2', clientIds: ['ingest2'] }])).toEqual([]);
    expect(BrokerUsers.clientIdConflicts([{ ...rules, clientIdPrefixes: ['a-'] }, { ...dashboard, clientIdPrefixes: ['a-b-'] }])).toHaveLength(1);
  });

  it('never lets readings or alert acknowledgements be retained', () => {
    expect(mayRetain('cleanstream/v1/readings/paper-01/gw-1')).toBe(false);
    expect(mayRetain('cleanstream/v1/alert-acks/paper-01/cod-high/outfall-1')).toBe(false);
    expect(mayRetain('cleanstream/v1/status/gw-1')).toBe(true);
    expect(mayRetain('cleanstream/v1/alerts/paper-01/cod-high/outfall-1')).toBe(true);
  });

  it('writes Mosquitto\'s dynamic-security configuration with every user bound to one client id', () => {
    const config = new BrokerUsers([gateway, ingest]).mosquittoDynsec({ ingest: 'secret' });
    expect(config.defaultACLAccess).toEqual({ publishClientSend: false, publishClientReceive: false, subscribe: false, unsubscribe: true });
    expect(config.clients.map((c) => [c.username, c.clientid])).toEqual([['gw-1', 'cleanstream-gw-1'], ['ingest', 'cleanstream-ingest']]);
    expect(config.clients[0]).not.toHaveProperty('password'); // none given: cannot log in until set
    expect(config.clients[1]).toMatchObject({ password: expect.any(String), salt: expect.any(String), iterations: 101 });
    expect(config.roles[1]!.acls).toContainEqual({ acltype: 'subscribePattern', topic: '$share/+/cleanstream/v1/readings/+/+', priority: 0, allow: true });
    expect(() => boundClientId({ ...ingest, clientIdPrefixes: ['x-'] })).toThrow(/only client id prefixes/);
  });
});

describe('password checks', () => {
  it('run off the event loop: the CONNECT hook returns before the answer, so a wrong password stalls no other client', async () => {
    const users = new BrokerUsers([{ username: 'ingest', passwordHash: hashPassword('right'), role: 'ingest' }]);
    const hooks = users.aedesHooks();
    const answers: (number | undefined)[] = [];
    let returned = false;
    const answered = new Promise<void>((resolve) => {
      hooks.authenticate!({ id: 'cleanstream-ingest' } as never, 'ingest', Buffer.from('wrong'), (err) => {
        answers.push(returned ? (err as { returnCode?: number } | null)?.returnCode : -1);
        resolve();
      });
    });
    returned = true;
    await answered;
    // -1 would mean the answer came inside the call: scrypt ran on the event loop
    expect(answers).toEqual([4]);
  });
});

