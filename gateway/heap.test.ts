import { describe, expect, it } from 'vitest';
import { limitHeapGrowth } from './main.ts';

describe('gateway heap growth limit', () => {
  it('leaves a heap growing factor given on the command line or in NODE_OPTIONS alone', () => {
    expect(limitHeapGrowth(50, ['--max-semi-space-size=4', '--heap-growing-percent=20'])).toBe(false);
    expect(limitHeapGrowth(50, ['--heap_growing_percent=80'])).toBe(false);
  });

  it('sets its own otherwise', () => {
    expect(limitHeapGrowth(50, ['--max-semi-space-size=4'])).toBe(true);
  });
});
