import { describe, expect, it } from 'vitest';
import { topics } from '../bus/topics.ts';
import { alreadyOnTopic } from './recovery.ts';

const cod = topics.alert('paper-01', 'cod-limit', 'outfall-1-cod');
const nh3n = topics.alert('paper-01', 'nh3n-limit', 'outfall-1-nh3n');
// journal keys and the topic states they publish, in hand-on order
const outboxed = new Map<string, string | undefined>([
  ['cod-limit.paper-01.outfall-1-cod.1000:raised:1', 'cod-limit.paper-01.outfall-1-cod.1000:raised:1:-'],
  ['nh3n-limit.paper-01.outfall-1-nh3n.1500:raised:1', 'nh3n-limit.paper-01.outfall-1-nh3n.1500:raised:1:-'],
  ['cod-limit.paper-01.outfall-1-cod.1000:cleared:1', 'cod-limit.paper-01.outfall-1-cod.1000:cleared:1:-'],
  ['cod-limit.paper-01.outfall-1-cod.3000:raised:1', 'cod-limit.paper-01.outfall-1-cod.3000:raised:1:-'],
]);

describe('which unconfirmed transitions of the last run are on their topic already', () => {
  it('takes every transition of a topic up to the one its retained state shows, none after it', () => {
    const retained = new Map([[cod, 'cod-limit.paper-01.outfall-1-cod.1000:cleared:1:-']]);
    expect([...alreadyOnTopic(outboxed, retained)]).toEqual(['cod-limit.paper-01.outfall-1-cod.1000:raised:1', 'cod-limit.paper-01.outfall-1-cod.1000:cleared:1']);
  });

  it('takes all of a topic when the retained state is its last transition, and judges each topic on its own', () => {
    const retained = new Map([
      [cod, 'cod-limit.paper-01.outfall-1-cod.3000:raised:1:-'],
      [nh3n, 'nh3n-limit.paper-01.outfall-1-nh3n.1500:raised:1:-'],
    ]);
    expect(alreadyOnTopic(outboxed, retained).size).toBe(4);
  });

  it('takes none of a topic whose retained state is older than the journal or absent', () => {
    const retained = new Map([[cod, 'cod-limit.paper-01.outfall-1-cod.500:cleared:2:-']]);
    expect(alreadyOnTopic(outboxed, retained).size).toBe(0);
    expect(alreadyOnTopic(outboxed, new Map()).size).toBe(0);
  });

  it('does not take an escalation for the raise it escalated (same state and count)', () => {
    const withEscalation = new Map<string, string | undefined>([
      ['cod-limit.paper-01.outfall-1-cod.1000:raised:1', 'cod-limit.paper-01.outfall-1-cod.1000:raised:1:-'],
      ['cod-limit.paper-01.outfall-1-cod.1000:escalated:1', 'cod-limit.paper-01.outfall-1-cod.1000:raised:1:e'],
    ]);
    const retained = new Map([[cod, 'cod-limit.paper-01.outfall-1-cod.1000:raised:1:-']]);
    expect([...alreadyOnTopic(withEscalation, retained)]).toEqual(['cod-limit.paper-01.outfall-1-cod.1000:raised:1']);
  });
});
