/* global uPlot, document, getComputedStyle, ResizeObserver, requestAnimationFrame, cancelAnimationFrame */
// One tile's time-series chart (uPlot, served by the dashboard at /vendor/uplot/): a meter's quantity over a window
// (ending now and following the live stream, or a fixed one), the time axis in the plants' time zone; a gauge as the
// line of its bucket means with its limit lines dashed (both pH bounds) and a marker for a limit too far from the data
// to draw; a counter as bars of the amount counted per bucket ("kWh / 5 分钟"). Hovering reads out the time and the
// value with its unit; dragging across the plot zooms into that time, a button resets. Follows its container's width.
import { api } from './api.js';
import { BucketSeries, chartEvery, CounterSeries, everyParam, limitValues, valueRange } from './chart-data.js';
import { element, formatAxisTicks, formatChartTime, formatEvery, formatNumber, locale, PLANT_TIME_ZONE } from './format.js';
import { t } from './i18n.js';

const HEIGHT = 132;
const AXIS_FONT_PX = 11;
const FONT_FAMILY = 'system-ui, "Noto Sans CJK SC", "PingFang SC", sans-serif';
/** A drag narrower than this (px) is a click, not a zoom. */
const MIN_ZOOM_PX = 4;
const DAY_MS = 86_400_000;

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

/** Width of the value axis: its longest label and the tick, so that long numbers are not cut off. */
function valueAxisSize(self, values) {
  if (!values) return 40;
  measurer ??= measureContext();
  const widest = Math.max(0, ...values.map((v) => (v ? measurer.measureText(v).width : 0)));
  return Math.ceil(widest) + 14;
}

const plantDay = (ts) => new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit', timeZone: PLANT_TIME_ZONE }).format(ts);

/** The series a chart keeps for a quantity: bucket means for a gauge, amounts per bucket for a counter. */
export function chartSeries({ counter, everyMs, windowMs, maxPoints = 1000 }) {
  return counter ? new CounterSeries({ everyMs, windowMs, maxPoints }) : new BucketSeries({ everyMs, windowMs, maxPoints });
}

export class TileChart {
  /**
   * container: an element sized by CSS (width from the layout); unit: the quantity's canonical unit; counter: draw
   * the amount per bucket as bars (a catalog `kind: 'counter'`); windowMs: the time the x axis spans; everyMs: the
   * bucket width (default: chartEvery's for the window); to: the window's end (ms), or null for a window ending now.
   */
  constructor(container, { windowMs, everyMs, unit = '', counter = false, to = null }) {
    this.container = container;
    this.unit = unit;
    this.counter = counter;
    this.series = null;
    this.limits = [];
    this.zoom = null;
    // which limits the last y range took in and left out (set by the range function, read by the draw hook)
    this.shownLimits = [];
    this.hiddenLimits = [];
    this.frame = 0;
    this.setWindow({ windowMs, everyMs, to });
    const colors = { line: cssColor('--line', '#1f7a55'), limit: cssColor('--limit', '#c0392b'), text: cssColor('--muted', '#5b6b63'), grid: cssColor('--border', '#dde3e0') };
    this.colors = colors;
    this.readout = element('div', 'chart-readout');
    this.readoutText = element('span', 'chart-readout-text');
    this.resetButton = element('button', 'chart-reset', t('resetZoom'));
    this.resetButton.type = 'button';
    this.resetButton.hidden = true;
    this.resetButton.addEventListener('click', () => this.resetZoom());
    this.readout.append(this.readoutText, this.resetButton);
    this.plotBox = element('div', 'chart-plot');
    container.replaceChildren(this.readout, this.plotBox);
    const timeLabel = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: PLANT_TIME_ZONE });
    const dateLabel = new Intl.DateTimeFormat(locale(), { month: '2-digit', day: '2-digit', timeZone: PLANT_TIME_ZONE });
    const axis = { stroke: colors.text, font: `${AXIS_FONT_PX}px ${FONT_FAMILY}`, grid: { stroke: colors.grid, width: 1 }, ticks: { stroke: colors.grid, width: 1, size: 4 } };
    const valueSeries = counter
      ? { stroke: colors.line, fill: colors.line, width: 0, paths: uPlot.paths.bars({ size: [0.8, Infinity, 1], gap: 1, align: 1 }), points: { show: false } }
      : { stroke: colors.line, width: 1.5, points: { show: false }, spanGaps: false };
    this.plot = new uPlot(
      {
        width: this.width(),
        height: HEIGHT,
        ms: 1,
        tzDate: (ts) => uPlot.tzDate(new Date(ts), PLANT_TIME_ZONE),
        legend: { show: false },
        select: { show: true, over: true },
        // drag across the plot to zoom into that time (handled in setSelect: the x range is the chart's own)
        cursor: { y: false, drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
        // room on the right for the last time label, centred on the window's end
        padding: [8, 18, 0, 0],
        scales: {
          x: { time: true, range: () => this.xRange() },
          y: {
            range: (self) => {
              const [x0, x1] = this.xRange();
              const xs = self.data[0] ?? [];
              const visible = (self.data[1] ?? []).filter((v, i) => xs[i] >= x0 - this.everyMs && xs[i] <= x1);
              const { min, max, shown, hidden } = valueRange(visible, this.limits);
              this.shownLimits = shown;
              this.hiddenLimits = hidden;
              // bars of amounts stand on zero: their heights compare as the amounts do
              return this.counter ? [Math.min(0, min), max] : [min, max];
            },
          },
        },
        axes: [
          {
            ...axis,
            space: 56,
            size: 26,
            values: (self, splits, axisIdx, space, increment) => {
              const [x0, x1] = this.xRange();
              const acrossDays = plantDay(x0) !== plantDay(x1);
              // a day's ticks by date; within a window across midnight, the midnight tick by its date
              return splits.map((ts) => (increment >= DAY_MS || (acrossDays && timeLabel.format(ts) === '00:00') ? dateLabel.format(ts) : timeLabel.format(ts)));
            },
          },
          { ...axis, space: 28, size: valueAxisSize, values: (self, splits, axisIdx, space, increment) => formatAxisTicks(splits, increment) },
        ],
        series: [{}, valueSeries],
        hooks: {
          draw: [(self) => this.drawLimits(self)],
          setCursor: [(self) => this.renderReadout(self.cursor.idx)],
          setSelect: [(self) => this.zoomTo(self)],
        },
      },
      [[], []],
      this.plotBox,
    );
    this.renderReadout(null);
    this.resizer = new ResizeObserver(() => {
      const width = this.width();
      if (width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
    });
    this.resizer.observe(container);
  }

  width() {
    return Math.max(120, Math.floor(this.container.clientWidth));
  }

  /** A new window (and bucket width): the zoom is reset; the caller brings the series for it. */
  setWindow({ windowMs, everyMs, to = null }) {
    this.windowMs = windowMs;
    this.everyMs = everyMs ?? chartEvery(windowMs, this.counter);
    this.to = to;
    this.zoom = null;
    const data = this.container.dataset;
    data.windowMs = String(windowMs);
    data.everyMs = String(this.everyMs);
    data.mode = this.counter ? 'increase' : 'mean';
    data.live = String(to === null);
    if (this.plot) {
      this.resetButton.hidden = true;
      this.container.dataset.zoomed = 'false';
      this.renderReadout(null);
      this.schedule();
    }
  }

  /** The window's x range: the zoom, else the window ending at `to` or now. */
  xRange() {
    if (this.zoom) return this.zoom;
    const end = this.to ?? Date.now();
    return [end - this.windowMs, end];
  }

  /** The series is per bucket: what one bar or point stands for. */
  perBucket() {
    return this.counter ? `${this.unit} / ${formatEvery(this.everyMs)}` : `${this.unit === 'pH' ? 'pH' : this.unit} · ${formatEvery(this.everyMs)}${t('bucketMean')}`;
  }

  /** Under the cursor: the bucket's time and value with its unit; elsewhere what the chart draws. */
  renderReadout(idx) {
    const data = this.plot ? this.plot.data : [[], []];
    if (idx === null || idx === undefined || data[0][idx] === undefined) {
      this.readoutText.textContent = this.perBucket();
      delete this.container.dataset.hover;
      return;
    }
    const ts = data[0][idx];
    const value = data[1][idx];
    const [x0, x1] = this.xRange();
    const withDate = plantDay(x0) !== plantDay(x1);
    const time = this.counter
      ? `${formatChartTime(ts, withDate)}–${formatChartTime(ts + this.everyMs, withDate)}`
      : formatChartTime(ts, withDate);
    const unit = this.counter ? ` ${this.unit}` : this.unit === 'pH' ? '' : ` ${this.unit}`;
    const shown = value === null || value === undefined ? t('noData') : `${formatNumber(value)}${unit}`;
    this.readoutText.textContent = `${time}  ${shown}`;
    this.container.dataset.hover = String(ts);
  }

  /** A drag across the plot: show that time; the live window keeps collecting meanwhile. */
  zoomTo(self) {
    const { left, width } = self.select;
    if (width < MIN_ZOOM_PX) return;
    const from = self.posToVal(left, 'x');
    const to = self.posToVal(left + width, 'x');
    self.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (!(to > from)) return;
    this.zoom = [from, to];
    this.resetButton.hidden = false;
    this.container.dataset.zoomed = 'true';
    this.schedule();
  }

  resetZoom() {
    this.zoom = null;
    this.resetButton.hidden = true;
    this.container.dataset.zoomed = 'false';
    this.schedule();
  }

  /** Show `series` (a BucketSeries or CounterSeries, or null for none yet) against `limit` ({ min?, max? }) at the next frame: many readings, one draw. */
  update(series, limit) {
    this.series = series;
    this.limits = this.counter ? [] : limitValues(limit);
    this.schedule();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = 0;
    this.series?.trim(this.to ?? Date.now());
    this.plot.setData(this.series ? this.series.aligned() : [[], []]);
    // what is drawn, for tests and for people inspecting the page
    const [x0, x1] = this.xRange();
    Object.assign(this.container.dataset, {
      points: String(this.series ? this.series.length : 0),
      limits: this.limits.join(' '),
      xMin: String(Math.round(x0)),
      xMax: String(Math.round(x1)),
    });
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
      ctx.fillText(`${t('limit')} ${formatNumber(value)}`, left + 3 * ratio, labelY);
    }
    ctx.textBaseline = 'top';
    for (const value of this.hiddenLimits) {
      const above = value > self.scales.y.max;
      ctx.fillText(`${above ? '↑' : '↓'} ${t('limit')} ${formatNumber(value)}`, left + 3 * ratio, above ? top + 2 * ratio : top + height - 14 * ratio);
    }
    ctx.restore();
  }

  destroy() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.resizer.disconnect();
    this.plot.destroy();
  }
}

/**
 * Draw one meter's quantity over [from, to) into `container` (for pages other than the plant's, e.g. an alert's):
 * fetches /series (mode=increase for a counter) and returns the TileChart. quantity: the catalog entry ({ id, unit,
 * kind }); limit: { min?, max? } or undefined.
 */
export async function drawSeries(container, { plant, meter, quantity, from, to, limit }) {
  const counter = quantity.kind === 'counter';
  const everyMs = chartEvery(to - from, counter);
  const chart = new TileChart(container, { windowMs: to - from, everyMs, unit: quantity.unit, counter, to });
  const mode = counter ? '&mode=increase' : '';
  const { body } = await api(`/api/plants/${encodeURIComponent(plant)}/series?quantity=${quantity.id}&meter=${encodeURIComponent(meter)}&from=${from}&to=${to}&every=${everyParam(everyMs)}${mode}`);
  const series = chartSeries({ counter, everyMs, windowMs: to - from });
  const found = body.series.find((s) => s.meter === meter);
  if (found) series.addHistory(found.points, to, found.last);
  chart.update(series, limit);
  return chart;
}
