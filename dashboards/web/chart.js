/* global uPlot, document, getComputedStyle, ResizeObserver, requestAnimationFrame, cancelAnimationFrame */
// One tile's time-series chart (uPlot, served by the dashboard at /vendor/uplot/): bucket means of a meter's quantity
// over a sliding window that ends now, the time axis in the plants' time zone, limit lines dashed (both pH bounds),
// and a marker for a limit too far from the data to draw. The chart follows its container's width.
import { limitValues, valueRange } from './chart-data.js';
import { formatAxisTicks, locale, PLANT_TIME_ZONE } from './format.js';
import { t } from './i18n.js';

const HEIGHT = 132;
const AXIS_FONT_PX = 11;
const FONT_FAMILY = 'system-ui, "Noto Sans CJK SC", "PingFang SC", sans-serif';

export function chartsAvailable() {
  return typeof uPlot === 'function';
}

function cssColor(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

const measureContext = () => {
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${AXIS_FONT_PX}px ${FONT_FAMILY}`;
  return ctx;
};
let measurer = null;

/** Width of the value axis: its longest label and the tick, so that a counter's long numbers are not cut off. */
function valueAxisSize(self, values) {
  if (!values) return 40;
  measurer ??= measureContext();
  const widest = Math.max(0, ...values.map((v) => (v ? measurer.measureText(v).width : 0)));
  return Math.ceil(widest) + 14;
}

export class TileChart {
  /**
   * container: an element sized by CSS (width from the layout, height fixed); windowMs: the time the x axis spans,
   * ending now; or span: a fixed [from, to] for the x axis (the time around an alert).
   */
  constructor(container, { windowMs, span }) {
    this.container = container;
    this.windowMs = windowMs;
    this.xRange = span ? () => span : () => [Date.now() - this.windowMs, Date.now()];
    this.series = null;
    this.limits = [];
    // which limits the last y range took in and left out (set by the range function, read by the draw hook)
    this.shownLimits = [];
    this.hiddenLimits = [];
    this.frame = 0;
    const colors = { line: cssColor('--line', '#1f7a55'), limit: cssColor('--limit', '#c0392b'), text: cssColor('--muted', '#5b6b63'), grid: cssColor('--border', '#dde3e0') };
    this.colors = colors;
    const timeLabel = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: PLANT_TIME_ZONE });
    const axis = { stroke: colors.text, font: `${AXIS_FONT_PX}px ${FONT_FAMILY}`, grid: { stroke: colors.grid, width: 1 }, ticks: { stroke: colors.grid, width: 1, size: 4 } };
    this.plot = new uPlot(
      {
        width: this.width(),
        height: HEIGHT,
        ms: 1,
        tzDate: (ts) => uPlot.tzDate(new Date(ts), PLANT_TIME_ZONE),
        legend: { show: false },
        select: { show: false },
        cursor: { y: false, drag: { x: false, y: false }, points: { size: 6 } },
        // room on the right for the last time label, centred on now
        padding: [8, 18, 0, 0],
        scales: {
          x: { time: true, range: () => this.xRange() },
          y: {
            range: (self) => {
              const { min, max, shown, hidden } = valueRange(self.data[1] ?? [], this.limits);
              this.shownLimits = shown;
              this.hiddenLimits = hidden;
              return [min, max];
            },
          },
        },
        axes: [
          { ...axis, space: 56, size: 26, values: (self, splits) => splits.map((ts) => timeLabel.format(ts)) },
          { ...axis, space: 28, size: valueAxisSize, values: (self, splits, axisIdx, space, increment) => formatAxisTicks(splits, increment) },
        ],
        series: [{}, { stroke: colors.line, width: 1.5, points: { show: false }, spanGaps: false }],
        hooks: { draw: [(self) => this.drawLimits(self)] },
      },
      [[], []],
      container,
    );
    this.resizer = new ResizeObserver(() => {
      const width = this.width();
      if (width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
    });
    this.resizer.observe(container);
  }

  width() {
    return Math.max(120, Math.floor(this.container.clientWidth));
  }

  /** Show `series` (a BucketSeries, or null for none yet) against `limit` ({ min?, max? }) at the next frame: many readings, one draw. */
  update(series, limit) {
    this.series = series;
    this.limits = limitValues(limit);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = 0;
    this.series?.trim(Date.now());
    this.plot.setData(this.series ? this.series.aligned() : [[], []]);
    // what is drawn, for tests and for people inspecting the page
    this.container.dataset.points = String(this.series ? this.series.length : 0);
    this.container.dataset.limits = this.limits.join(' ');
  }

  /** Dashed limit lines across the plot, labelled; a limit out of range as an arrow and its value at the edge it is beyond. */
  drawLimits(self) {
    const ctx = self.ctx;
    const { left, top, width, height } = self.bbox;
    const ratio = uPlot.pxRatio;
    ctx.save();
    ctx.strokeStyle = this.colors.limit;
    ctx.fillStyle = this.colors.limit;
    ctx.lineWidth = ratio;
    ctx.setLineDash([5 * ratio, 4 * ratio]);
    ctx.font = `${AXIS_FONT_PX * ratio}px ${FONT_FAMILY}`;
    // labels on the left: the newest data, and so the liveliest part of the line, is on the right
    ctx.textAlign = 'left';
    for (const value of this.shownLimits) {
      const y = Math.round(self.valToPos(value, 'y', true)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      // below a maximum line when it is near the top edge, else above it
      const labelY = y - top < 14 * ratio ? y + 12 * ratio : y - 3 * ratio;
      ctx.fillText(`${t('limit')} ${value}`, left + 3 * ratio, labelY);
    }
    ctx.textBaseline = 'top';
    for (const value of this.hiddenLimits) {
      const above = value > self.scales.y.max;
      ctx.fillText(`${above ? '↑' : '↓'} ${t('limit')} ${value}`, left + 3 * ratio, above ? top + 2 * ratio : top + height - 14 * ratio);
    }
    ctx.restore();
  }

  destroy() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.resizer.disconnect();
    this.plot.destroy();
  }
}
