/**
 * This process's resident memory while a bounded run goes on: at the start, the peak (sampled every 250 ms) and a
 * timeline of one sample every 10 s, for tests and benches that promise memory stays bounded.
 */
export interface RssFigures {
  rssStartMb: number;
  rssPeakMb: number;
  rssEndMb: number;
  rssTimelineMb: number[];
}

const rssMb = (): number => Math.round(process.memoryUsage().rss / 1e5) / 10;

export function sampleRss(): { stop(): RssFigures } {
  const rssStartMb = rssMb();
  let rssPeakMb = rssStartMb;
  const rssTimelineMb: number[] = [];
  let samples = 0;
  const timer = setInterval(() => {
    const now = rssMb();
    rssPeakMb = Math.max(rssPeakMb, now);
    if (++samples % 40 === 0) rssTimelineMb.push(now);
  }, 250);
  return {
    stop() {
      clearInterval(timer);
      const rssEndMb = rssMb();
      return { rssStartMb, rssPeakMb: Math.max(rssPeakMb, rssEndMb), rssEndMb, rssTimelineMb };
    },
  };
}
