import { describe, expect, it } from 'vitest';
import { BrokerUsers, filterCovers, hashPassword, topicMatches, verifyPassword } from './broker-auth.ts';

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
});
