// Whether what the page shows is live: per meter, how often it reports (its cadence, learned from the timestamps of
// its readings) and whether it is overdue; for the stream, whether messages keep arriving as often as they have been.
// Pure logic, no DOM: the views feed it and ask it every second.

/** Successive gaps kept to judge a cadence: enough for a median that one late or doubled message does not move. */
export const CADENCE_GAPS = 9;
/** A meter is stale after this many of its intervals without a reading. */
export const STALE_INTERVALS = 3;
/** The stream is down after this many of its expected intervals without a message. */
export const SILENT_INTERVALS = 2;
/** The stream's expected interval is never taken below this: a page cannot tell a missed tick of its own timer from silence. */
export const MIN_STREAM_INTERVAL_MS = 1000;

/** The median gap between the last few distinct, increasing timestamps; null until there are two gaps. */
export class Cadence {
  constructor(maxGaps = CADENCE_GAPS) {
    this.maxGaps = maxGaps;
    this.last = null;
    this.gaps = [];
  }

  note(ts) {
    if (this.last !== null && ts <= this.last) return;
    if (this.last !== null) {
      this.gaps.push(ts - this.last);
      if (this.gaps.length > this.maxGaps) this.gaps.shift();
    }
    this.last = ts;
  }

  get intervalMs() {
    if (this.gaps.length < 2) return null;
    const sorted = [...this.gaps].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }
}

/**
 * A meter's reading is stale when no newer one has arrived for STALE_INTERVALS of the meter's own cadence, by the
 * page's clock (`arrivedAt`, when the newest reading reached the page): a gateway or PLC whose clock is off by seconds
 * must not make every tile stale. While the cadence is not known yet (fewer than three readings seen live) or the
 * reading came from history, it is stale once its timestamp is older than `fallbackMs`.
 */
export function staleness(readingTs, arrivedAt, intervalMs, now, fallbackMs) {
  if (intervalMs !== null && arrivedAt !== null) {
    const limit = STALE_INTERVALS * intervalMs;
    return { stale: now - arrivedAt > limit, ageMs: now - arrivedAt, limitMs: limit };
  }
  return { stale: now - readingTs > fallbackMs, ageMs: now - readingTs, limitMs: fallbackMs };
}

/**
 * The live indicator of one stream: `connecting` until it opens; `live` while messages arrive; `down` (with the
 * moment since when) when the connection drops, when the server says it lost the broker, or when nothing arrived for
 * SILENT_INTERVALS of the expected interval. The expected interval is the slowest cadence of the sources that send
 * data (a plant's gateways: each must be heard from), else the server's heartbeat interval.
 */
export class StreamLiveness {
  constructor() {
    this.reset(0);
  }

  reset(now) {
    this.open = false;
    this.openedAt = now;
    this.droppedAt = null;
    this.upstreamLostAt = null;
    this.lastMessageAt = null;
    this.sources = new Map();
    this.heartbeatMs = null;
  }

  opened(now) {
    this.open = true;
    this.droppedAt = null;
    if (this.lastMessageAt === null) this.openedAt = now;
  }

  dropped(now) {
    if (this.open || this.droppedAt === null) this.droppedAt = now;
    this.open = false;
  }

  /** A data message from `source` (a gateway) arrived at `now`. */
  message(source, now) {
    this.lastMessageAt = now;
    let cadence = this.sources.get(source);
    if (!cadence) this.sources.set(source, (cadence = new Cadence()));
    cadence.note(now);
  }

  /** The server's heartbeat: it proves the connection, and says whether the server still has the broker. */
  heartbeat(everyMs, brokerConnected, now) {
    this.heartbeatMs = everyMs;
    this.lastHeartbeatAt = now;
    if (!brokerConnected) this.upstreamLostAt ??= now;
    else this.upstreamLostAt = null;
    if (this.sources.size === 0) this.lastMessageAt = now;
  }

  expectedIntervalMs() {
    let slowest = null;
    for (const cadence of this.sources.values()) {
      const interval = cadence.intervalMs;
      if (interval !== null && (slowest === null || interval > slowest)) slowest = interval;
    }
    if (slowest !== null) return Math.max(MIN_STREAM_INTERVAL_MS, slowest);
    return this.heartbeatMs;
  }

  /** { state: 'connecting' | 'live' | 'down', since: ms | null, reason: null | 'connection' | 'upstream' | 'silent' } */
  state(now) {
    if (!this.open) {
      if (this.droppedAt === null) return { state: 'connecting', since: null, reason: null };
      return { state: 'down', since: this.droppedAt, reason: 'connection' };
    }
    if (this.upstreamLostAt !== null) return { state: 'down', since: this.upstreamLostAt, reason: 'upstream' };
    const expected = this.expectedIntervalMs();
    const last = this.lastMessageAt ?? this.openedAt;
    if (expected !== null && now - last > SILENT_INTERVALS * expected) return { state: 'down', since: last, reason: 'silent' };
    return { state: 'live', since: null, reason: null };
  }
}
