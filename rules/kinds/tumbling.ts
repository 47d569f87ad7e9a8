/**
 * An operator judging the mean of consecutive, non-overlapping windows (a limit on a 1-hour mean, a deviation from a
 * baseline over a day): it feeds usable samples in and judges each window once it closes, by a later sample or by the
 * watermark. The kinds differ only in their verdict on a closed window.
 */
import { TumblingMean, type TumblingState } from '../windows.ts';
import { usable, type AlertPort, type Operator, type QualityCode } from './types.ts';

export abstract class TumblingMeanOperator implements Operator {
  protected readonly window: TumblingMean;

  constructor(sizeMs: number) {
    this.window = new TumblingMean(sizeMs);
  }

  sample(ts: number, value: number, quality: QualityCode, alert: AlertPort): void {
    if (this.window.closeIfDue(ts)) this.judge(alert);
    if (usable(value, quality)) this.window.add(ts, value);
  }

  watermark(watermark: number, alert: AlertPort): void {
    if (this.window.closeIfDue(watermark)) this.judge(alert);
  }

  /** The verdict on the window that just closed (`window.closedMean`, `closedCount`, `closedStart`). */
  protected abstract judge(alert: AlertPort): void;

  snapshot(): TumblingState {
    return this.window.snapshot();
  }

  restore(state: unknown): void {
    this.window.restore(state as TumblingState);
  }
}
