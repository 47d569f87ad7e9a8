/**
 * The tests' one poll helper (test/harness/wait.ts): what every test relies on when it waits for something to happen.
 */
import { describe, expect, it } from 'vitest';
import { until } from '../../harness/wait.ts';

describe('until', () => {
  it('resolves once a condition holds, polling it', async () => {
    let calls = 0;
    await until('the third call', () => ++calls === 3, 1000, 1);
    expect(calls).toBe(3);
  });

  it('resolves with what a probe found, treating undefined and false as not yet', async () => {
    const answers: (string | undefined | false)[] = [undefined, false, 'found'];
    expect(await until('an answer', async () => answers.shift(), 1000, 1)).toBe('found');
    expect(await until('zero', () => 0, 1000, 1)).toBe(0);
  });

  it('fails naming what never came and after how long', async () => {
    await expect(until('the pigs to fly', () => false, 30, 5)).rejects.toThrow('timed out after 30 ms waiting for the pigs to fly');
    let seen = 0;
    await expect(until(() => `ten messages (got ${seen})`, () => ++seen >= 1000, 30, 5)).rejects.toThrow(/waiting for ten messages \(got \d+\)/);
  });
});
