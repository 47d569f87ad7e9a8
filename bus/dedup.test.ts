import { describe, expect, it } from 'vitest';
import { RecentMessages } from './dedup.ts';

describe('messages already judged', () => {
  it('knows a batch seen before by gateway, seq and sentAt, and forgets the oldest past its bound', () => {
    const recent = new RecentMessages(2);
    expect(recent.firstSight('gw-1', 1, 1000)).toBe(true);
    expect(recent.firstSight('gw-1', 1, 1000)).toBe(false);
    expect(recent.firstSight('gw-2', 1, 1000)).toBe(true);
    expect(recent.firstSight('gw-1', 1, 5000)).toBe(true); // the gateway restarted its seq
    expect(recent.firstSight('gw-1', 2, 5001)).toBe(true);
    expect(recent.firstSight('gw-1', 1, 1000)).toBe(true); // forgotten: two per gateway kept
  });

  it('checkpoints the keys as they were when the snapshot began, taken in slices while batches keep coming', () => {
    const recent = new RecentMessages();
    for (let g = 0; g < 5; g++) for (let seq = 0; seq < 3; seq++) recent.firstSight(`gw-${g}`, seq, 1000 + seq);
    const atBegin = recent.snapshot();
    const capture = recent.beginSnapshot();
    const pieces: string[] = [];
    let done = false;
    for (let round = 0; !done && round < 100; round++) {
      // every gateway sends again between slices: the ones not taken yet are copied before they change
      for (let g = 0; g < 5; g++) recent.firstSight(`gw-${g}`, 10 + round, 2000 + round);
      recent.firstSight(`gw-new-${round}`, 0, 3000);
      const slice = capture.take(1);
      pieces.push(...slice.pieces);
      done = slice.done;
    }
    expect(JSON.parse(`{${pieces.join(',')}}`)).toEqual(atBegin);
    const restored = new RecentMessages();
    restored.restore(JSON.parse(`{${pieces.join(',')}}`) as Record<string, string[]>);
    expect(restored.firstSight('gw-3', 2, 1002)).toBe(false);
    expect(restored.firstSight('gw-3', 10, 2000)).toBe(true);
  });
});
