/**
 * Replay a recording (or a scenario's generated feed) into a broker from a vitest test and wait for it to end.
 *
 *   const summary = await replayFixture(broker.url, 'simulators/scenarios/feed.ndjson');
 */
import { replayFile, type ReplayOptions, type ReplaySummary } from '../../simulators/replay.ts';

export type { ReplaySummary } from '../../simulators/replay.ts';

/** Options as for replayFile; defaults for tests: as fast as possible, no progress output, at most 60 s. */
export type ReplayFixtureOptions = Omit<ReplayOptions, 'url'>;

export function replayFixture(brokerUrl: string, file: string, opts: ReplayFixtureOptions = {}): Promise<ReplaySummary> {
  return replayFile(file, { speed: 0, maxDurationMs: 60_000, progress: { mode: 'none' }, ...opts, url: brokerUrl });
}
