import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { scheduleHistoryJobs, type JobsResult } from './jobs.ts';

const HOUR = 3_600_000;

describe('history job schedule', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('tries again a minute later while there is no data to sum, then hourly once it has written reductions', async () => {
    vi.useFakeTimers();
    const runs: number[] = [];
    let dataFrom = 2;
    const stop = scheduleHistoryJobs(
      () => {
        runs.push(Date.now());
        const waiting = runs.length < dataFrom + 1;
        return Promise.resolve<JobsResult>({ baselines: [], reductionRows: waiting ? 0 : 3, waitingForData: waiting });
      },
      HOUR,
      pino({ level: 'silent' }),
    );
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toEqual([t0 + 1_000]);
    await vi.advanceTimersByTimeAsync(2 * 60_000);
    // two more tries a minute apart; the third found data
    expect(runs.map((t) => t - t0)).toEqual([1_000, 61_000, 121_000]);
    await vi.advanceTimersByTimeAsync(HOUR - 1);
    expect(runs).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toHaveLength(4);
    stop();
    dataFrom = 0;
    await vi.advanceTimersByTimeAsync(2 * HOUR);
    expect(runs).toHaveLength(4);
  });
});
