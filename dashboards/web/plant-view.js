/* global EventSource */
// The operator's view of one plant: open alerts, then tiles with the last value, unit, quality, the limit in force and
// a chart over the window the range picker chooses (15 min to 7 days ending now, or a custom one) with its limit lines, for
// the outfall (flow, COD, NH3-N, pH), energy, the stack and production; counters (totalised volume, energy, production)
// charted as the amount per bucket. History comes from /latest and /series, then the SSE stream keeps values, charts
// (of windows ending now) and alerts live.
import { api, liveUrl } from './api.js';
import { alertItem, OpenAlerts, renderListState } from './alerts-ui.js';
import { $, element, formatDuration, formatNumber, formatTime } from './format.js';
import { localized, t } from './i18n.js';
import { exceeds, limitsByQuantity } from './limits.js';
import { chartEvery, everyParam, RANGE_PRESETS } from './chart-data.js';
import { chartSeries, chartsAvailable, TileChart } from './chart.js';
import { Cadence, staleness } from './liveness.js';

const GROUPS = [
  { id: 'water', quantities: ['wastewater_flow', 'cod', 'nh3n', 'ph'] },
  { id: 'energy', quantities: ['active_power', 'active_energy', 'steam_flow', 'natural_gas_flow'] },
  { id: 'emissions', quantities: ['so2', 'nox', 'particulate', 'o2'] },
  // the denominator operators read every per-tonne figure against
  { id: 'production', quantities: ['production_rate', 'production_total'] },
];
const GROUPED = new Set(GROUPS.flatMap((g) => g.quantities));

/**
 * A group's tiles: its built-in quantities in their fixed order, then the quantities the plant declared (core/catalog-file.ts)
 * written to the same measurement, in the order /plants lists them.
 */
function groupQuantities(group, quantities) {
  const more = [...quantities.values()].filter((q) => q.declared && q.domain === group.id && !GROUPED.has(q.id)).map((q) => q.id);
  return [...group.quantities, ...more];
}

// where a page starts: an hour in 10 s buckets (360; chooseEvery keeps every window to a few hundred)
const DEFAULT_RANGE = '1h';
const MAX_POINTS = 1000;
// China Standard Time has no daylight saving: a custom range's inputs are read as plant time at this offset
const PLANT_UTC_OFFSET_MS = 8 * 3_600_000;
// Until a meter's cadence is known (three readings seen live), its reading is stale after this long: the overview's
// threshold for a silent meter.
const STALE_FALLBACK_MS = 5 * 60_000;

const keyOf = (meter, quantity) => `${meter}/${quantity}`;

/** `2026-12-07T14:00` from a datetime-local input, read as plant time → ms; NaN when incomplete. */
export function plantInputToMs(text) {
  const match = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)$/.exec(text ?? '');
  if (!match) return Number.NaN;
  const [, y, mo, d, h, mi] = match.map(Number);
  return Date.UTC(y, mo - 1, d, h, mi) - PLANT_UTC_OFFSET_MS;
}

/** ms → `2026-12-07T14:00` in plant time, for a datetime-local input. */
export function msToPlantInput(ms) {
  return new Date(ms + PLANT_UTC_OFFSET_MS).toISOString().slice(0, 16);
}

function describeLimit(limit, unit) {
  const shownUnit = unit === 'pH' ? '' : ` ${unit}`;
  if (limit.min !== undefined && limit.max !== undefined) return `${limit.min}–${limit.max}${shownUnit}`;
  if (limit.max !== undefined) return `≤ ${limit.max}${shownUnit}`;
  return `≥ ${limit.min}${shownUnit}`;
}

export class PlantView {
  constructor(ctx) {
    this.ctx = ctx;
    this.plant = null;
    this.readings = new Map();
    this.tiles = new Map();
    this.limits = new Map();
    this.alerts = new OpenAlerts();
    /** The open-alerts list: 'loading', 'loaded', or the error that kept it from loading. */
    this.alertsLoad = 'loading';
    this.source = null;
    this.generation = 0;
    /** The charts' window: a preset ending now ({ id }) or { id: 'custom', from, to }. */
    this.range = { id: DEFAULT_RANGE };
    this.rangeGeneration = 0;
    setInterval(() => {
      // Ages grow without new data: a meter that stops reporting is marked within a second of becoming overdue.
      for (const tile of this.tiles.values()) this.markStale(tile);
    }, 1000);
  }

  async show(plant) {
    const generation = ++this.generation;
    this.close();
    this.plant = plant;
    this.readings = new Map();
    this.limits = new Map();
    this.alerts.reset([]);
    this.alertsLoad = 'loading';
    this.latestFailed = false;
    this.renderInfo();
    this.renderRangePicker();
    this.buildTiles();
    this.renderAlerts();
    // Live first, history second: readings arriving meanwhile are kept, and older history does not overwrite them.
    this.openLive(generation);
    await Promise.all([this.loadLimits(generation), this.loadAlerts(generation), this.loadHistory(generation)]);
  }

  close() {
    if (this.source) this.source.close();
    this.source = null;
  }

  rerender() {
    if (!this.plant) return;
    this.renderInfo();
    this.renderRangePicker();
    this.buildTiles();
    this.renderAlerts();
  }

  /** The charts' window now: { windowMs, to: null for one ending now }; each chart's buckets follow from it (chartEvery). */
  chartWindow() {
    const preset = RANGE_PRESETS.find((r) => r.id === this.range.id);
    if (preset) return { windowMs: preset.ms, to: null };
    return { windowMs: this.range.to - this.range.from, to: this.range.to };
  }

  isCounter(quantity) {
    return this.ctx.quantities.get(quantity)?.kind === 'counter';
  }

  /** 15 分钟 · 1 小时 · 6 小时 · 24 小时 · 7 天 · 自定义 (from/to in plant time). */
  renderRangePicker() {
    const box = $('range-picker');
    box.setAttribute('aria-label', t('rangeLabel'));
    const buttons = [...RANGE_PRESETS.map((r) => r.id), 'custom'].map((id) => {
      const button = element('button', 'range', t(`range-${id}`));
      button.type = 'button';
      button.dataset.range = id;
      button.setAttribute('aria-pressed', String(this.range.id === id));
      button.addEventListener('click', () => {
        if (id === 'custom') {
          this.customOpen = true;
          this.renderRangePicker();
          return;
        }
        this.customOpen = false;
        this.setRange({ id });
      });
      return button;
    });
    const custom = element('form', 'range-custom');
    custom.hidden = !(this.customOpen || this.range.id === 'custom');
    const { windowMs, to } = this.chartWindow();
    const end = to ?? Date.now();
    const input = (name, value) => {
      const el = element('input');
      el.type = 'datetime-local';
      el.name = name;
      el.value = msToPlantInput(value);
      const label = element('label', '', t(`range-${name}`));
      label.append(' ', el);
      return label;
    };
    const apply = element('button', 'range-apply', t('range-apply'));
    apply.type = 'submit';
    const error = element('span', 'range-error');
    error.setAttribute('role', 'alert');
    custom.append(input('from', end - windowMs), input('to', end), element('span', 'muted small', t('range-plantTime')), apply, error);
    custom.addEventListener('submit', (event) => {
      event.preventDefault();
      const from = plantInputToMs(custom.elements.from.value);
      const until = plantInputToMs(custom.elements.to.value);
      if (!(from < until)) {
        error.textContent = t('range-invalid');
        return;
      }
      this.setRange({ id: 'custom', from, to: until });
    });
    box.replaceChildren(element('span', 'range-title', t('rangeLabel')), ...buttons, custom);
  }

  /** Another window: every chart starts over with that window's buckets from /series. */
  setRange(range) {
    this.range = range;
    this.renderRangePicker();
    const window = this.chartWindow();
    for (const [key, data] of this.readings) data.series = this.newSeries(key.split('/')[1], window);
    for (const tile of this.tiles.values()) {
      tile.chart?.setWindow(window);
      this.renderTile(tile);
    }
    const generation = this.generation;
    this.loadSeries(generation).catch((err) => this.ctx.showError(err));
  }

  newSeries(quantity, window = this.chartWindow()) {
    const counter = this.isCounter(quantity);
    return chartSeries({ counter, everyMs: chartEvery(window.windowMs, counter), windowMs: window.windowMs, maxPoints: MAX_POINTS });
  }

  renderInfo() {
    const p = this.plant;
    $('plant-info').textContent = p ? `${localized(p.name)} · ${t('region')}: ${localized(p.region.name)} · ${t('industry')}: ${t(p.industry)}` : '';
  }

  renderAlerts() {
    const alerts = this.alerts.list(this.plant.id);
    $('plant-alerts').replaceChildren(...alerts.map((a) => alertItem(a, { plants: this.ctx.plants, showPlant: false })));
    renderListState($('plant-alerts-none'), this.alertsLoad, alerts.length, 'noOpenAlerts');
  }

  createTile(meter, quantity, showMeter) {
    const el = element('article', 'tile');
    el.dataset.key = keyOf(meter.id, quantity);
    const title = element('h3');
    const label = element('span', 'label');
    title.append(label);
    if (showMeter) title.append(' ', element('small', 'meter', localized(meter.name) || meter.id));
    // a title too long for the tile ends in an ellipsis: the whole of it on hover
    const valueLine = element('p', 'value');
    const num = element('span', 'num');
    const unit = element('span', 'unit');
    valueLine.append(num, ' ', unit);
    const meta = element('p', 'meta');
    const quality = element('span', 'quality');
    const time = element('time');
    const age = element('span', 'age');
    meta.append(quality, ' ', time, ' ', age);
    const limit = element('p', 'limit');
    const chartBox = element('div', 'chart');
    // name and state on the left, the value on the right: one row less per tile on a phone
    const head = element('div', 'tile-head');
    const names = element('div', 'tile-title');
    names.append(title, meta);
    head.append(names, valueLine);
    el.append(head, limit, chartBox);
    return { el, parts: { label, num, unit, quality, time, age, limit, chartBox }, meter: meter.id, quantity, chart: null };
  }

  renderTile(tile) {
    const q = this.ctx.quantities.get(tile.quantity);
    const data = this.readings.get(keyOf(tile.meter, tile.quantity));
    // history alone (a chart) is not a reading: the tile says "no data" until /latest or the stream brings one
    const reading = data && data.ts > 0 ? data : null;
    const { parts } = tile;
    const limit = this.limits.get(tile.quantity);
    const value = reading ? reading.value : null;
    parts.label.textContent = q ? localized(q.label) : tile.quantity;
    parts.label.parentElement.title = parts.label.parentElement.textContent;
    const stateLabel = q && q.kind === 'state' && (value === 0 || value === 1) ? q.states[value] : null;
    // a state (a pump on or off) reads as what it means, never as 0 or 1
    parts.num.textContent = value === null || value === undefined ? '—' : stateLabel ? localized(stateLabel) : formatNumber(value);
    parts.unit.textContent = q && q.unit !== 'pH' && q.kind !== 'state' ? q.unit : '';
    parts.quality.textContent = reading ? t(reading.quality) : this.latestFailed ? t('notLoaded') : t('noData');
    parts.time.textContent = reading ? formatTime(reading.ts) : '';
    tile.el.dataset.quality = reading ? reading.quality : 'none';
    // the reading shown, by its timestamp: lets a test or the latency benchmark tell which reading reached the page
    if (reading) tile.el.dataset.ts = String(reading.ts);
    this.markStale(tile);
    const over = exceeds(limit, value);
    tile.el.classList.toggle('over', over);
    // a value under a floor is "below floor", not "over limit"
    const verdict = !over ? '' : limit.min !== undefined && value < limit.min ? t('bound-min') : limit.min !== undefined ? t('bound-max-range') : t('exceeded');
    parts.limit.textContent = limit ? `${t('limit')} ${describeLimit(limit, q ? q.unit : '')} (${limit.standard})${verdict ? ` · ${verdict}` : ''}` : '';
    parts.limit.title = limit ? limit.source : '';
    if (tile.chart) tile.chart.update(data ? data.series : null, limit);
  }

  /** Stale, with how long nothing newer came, once the meter is overdue by three of its own intervals (liveness.js). */
  markStale(tile) {
    const data = this.readings.get(keyOf(tile.meter, tile.quantity));
    const reading = data && data.ts > 0 ? data : null;
    const verdict = reading ? staleness(reading.ts, data.arrivedAt, data.cadence.intervalMs, Date.now(), STALE_FALLBACK_MS) : null;
    const stale = Boolean(verdict && verdict.stale);
    tile.el.classList.toggle('stale', stale);
    tile.el.dataset.stale = String(stale);
    if (data && data.cadence.intervalMs !== null) tile.el.dataset.intervalMs = String(data.cadence.intervalMs);
    tile.parts.age.textContent = stale ? t('staleFor').replace('{age}', formatDuration(verdict.ageMs)) : '';
  }

  buildTiles() {
    const plant = this.plant;
    const container = $('groups');
    for (const tile of this.tiles.values()) tile.chart?.destroy();
    container.replaceChildren();
    this.tiles = new Map();
    for (const group of GROUPS) {
      const grid = element('div', 'tiles');
      for (const quantity of groupQuantities(group, this.ctx.quantities)) {
        const meters = plant.meters.filter((m) => m.quantities.includes(quantity));
        for (const meter of meters) {
          const tile = this.createTile(meter, quantity, meters.length > 1);
          this.tiles.set(keyOf(meter.id, quantity), tile);
          grid.append(tile.el);
          this.renderTile(tile);
        }
      }
      if (grid.childElementCount === 0) continue;
      const section = element('section', 'group');
      section.dataset.group = group.id;
      section.append(element('h2', '', t(group.id)), grid);
      container.append(section);
    }
    // charts once the tiles are laid out, so that each starts at its container's width
    if (!chartsAvailable()) return;
    const window = this.chartWindow();
    for (const tile of this.tiles.values()) {
      const q = this.ctx.quantities.get(tile.quantity);
      tile.chart = new TileChart(tile.parts.chartBox, { ...window, unit: q?.unit ?? '', counter: q?.kind === 'counter' });
      this.renderTile(tile);
    }
  }

  /** Take a reading if it is newer than what the tile shows; fold it into the chart's bucket when asked. */
  applyReading(r, addPoint) {
    const key = keyOf(r.meter, r.quantity);
    const tile = this.tiles.get(key);
    if (!tile) return;
    const data = this.dataOf(key);
    const newer = r.ts >= data.ts;
    if (newer) Object.assign(data, { value: r.value, ts: r.ts, quality: r.quality });
    if (addPoint) {
      // from the stream: when it reached the page says whether the meter keeps reporting, whatever its clock says
      if (newer) data.arrivedAt = Date.now();
      // a window ending now follows the stream; a custom one in the past stays as /series gave it
      if (this.range.id !== 'custom') data.series.addReading(r.ts, r.value, Date.now());
      data.cadence.note(r.ts);
    }
    this.renderTile(tile);
  }

  dataOf(key) {
    let data = this.readings.get(key);
    if (!data) {
      data = { value: null, ts: 0, arrivedAt: null, quality: null, cadence: new Cadence(), series: this.newSeries(key.split('/')[1]) };
      this.readings.set(key, data);
    }
    return data;
  }

  async loadLimits(generation) {
    const { body } = await api(`/api/plants/${encodeURIComponent(this.plant.id)}/limits`);
    if (generation !== this.generation) return;
    this.limits = limitsByQuantity(body);
    for (const tile of this.tiles.values()) this.renderTile(tile);
  }

  async loadAlerts(generation) {
    let body;
    try {
      ({ body } = await api(`/api/alerts?plant=${encodeURIComponent(this.plant.id)}`));
    } catch (err) {
      if (generation !== this.generation) return;
      // the list says it could not be loaded, in its place: an empty list would read as "no open alerts"
      this.alertsLoad = err;
      this.renderAlerts();
      return;
    }
    if (generation !== this.generation) return;
    this.alertsLoad = 'loaded';
    // Alerts that arrived on the stream meanwhile are newer than the list: keep them.
    const live = [...this.alerts.byId.values()];
    this.alerts.reset(body.alerts);
    for (const a of live) this.alerts.apply(a);
    this.renderAlerts();
  }

  async loadHistory(generation) {
    const path = `/api/plants/${encodeURIComponent(this.plant.id)}`;
    let latest;
    try {
      ({ body: latest } = await api(`${path}/latest`));
    } catch (err) {
      if (generation !== this.generation) return;
      // a tile without a reading says its reading could not be loaded, not that there is none
      this.latestFailed = true;
      for (const tile of this.tiles.values()) this.renderTile(tile);
      throw err;
    }
    if (generation !== this.generation) return;
    this.latestFailed = false;
    for (const r of latest.readings) this.applyReading(r, false);
    await this.loadSeries(generation);
  }

  /** Each quantity's buckets over the charts' window: means, or a counter's amounts (mode=increase). */
  async loadSeries(generation) {
    const path = `/api/plants/${encodeURIComponent(this.plant.id)}`;
    const rangeGeneration = ++this.rangeGeneration;
    const { windowMs, to } = this.chartWindow();
    const end = to ?? Date.now();
    const quantities = [...new Set([...this.tiles.values()].map((tile) => tile.quantity))];
    await Promise.all(quantities.map(async (quantity) => {
      const counter = this.isCounter(quantity);
      const every = everyParam(chartEvery(windowMs, counter));
      const { body: answer } = await api(`${path}/series?quantity=${quantity}&from=${end - windowMs}&to=${end}&every=${every}${counter ? '&mode=increase' : ''}`);
      // another plant, or another range chosen meanwhile: this answer is not for the charts shown
      if (generation !== this.generation || rangeGeneration !== this.rangeGeneration) return;
      for (const series of answer.series) {
        const key = keyOf(series.meter, quantity);
        const tile = this.tiles.get(key);
        if (!tile) continue;
        this.dataOf(key).series.addHistory(series.points, to ?? Date.now(), series.last);
        this.renderTile(tile);
      }
    }));
  }

  openLive(generation) {
    const plant = this.plant;
    const source = new EventSource(liveUrl({ plant: plant.id }));
    this.source = source;
    this.ctx.watchStream(source);
    source.addEventListener('readings', (event) => {
      if (generation !== this.generation) return;
      const batch = JSON.parse(event.data);
      if (batch.plant !== plant.id) return;
      this.ctx.dataArrived(source, batch.gateway);
      for (const r of batch.readings) this.applyReading(r, true);
    });
    source.addEventListener('alert', (event) => {
      if (generation !== this.generation) return;
      const alert = JSON.parse(event.data);
      if (alert.plant !== plant.id) return;
      this.alerts.apply(alert);
      this.renderAlerts();
    });
    // The server could not replay everything missed while disconnected: reload what it holds.
    source.addEventListener('gap', () => {
      this.loadHistory(generation).catch((err) => this.ctx.showError(err));
      this.loadAlerts(generation).catch((err) => this.ctx.showError(err));
    });
  }
}
