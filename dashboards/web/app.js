/* global window, document, sessionStorage, fetch, EventSource, history */
// The live dashboard page: pick a plant in the token's scope; tiles show the last value, unit, quality, a
// provisional limit and a sparkline. History comes from /latest and /series, then the SSE stream keeps it live.
import { initialLanguage, language, localized, setLanguage, t } from './i18n.js';
import { exceeds, limitFor } from './limits.js';
import { createSparkline, drawSparkline } from './sparkline.js';

const TOKEN_KEY = 'cleanstream.token';
const GROUPS = [
  { id: 'water', quantities: ['wastewater_flow', 'cod', 'nh3n', 'ph'] },
  { id: 'energy', quantities: ['active_power', 'active_energy'] },
  { id: 'emissions', quantities: ['so2', 'nox', 'particulate', 'o2'] },
];
const HISTORY_MS = 30 * 60_000;
const HISTORY_EVERY = '30s';
const HISTORY_EVERY_MS = 30_000;
const MAX_POINTS = 120;
const STALE_MS = 5 * 60_000;

const state = {
  token: null,
  plants: [],
  quantities: new Map(),
  plant: null,
  /** "meter/quantity" → { value, ts, quality, points: [ts, value][] } */
  readings: new Map(),
  /** "meter/quantity" → { el, parts, meter, quantity } */
  tiles: new Map(),
  source: null,
  /** Bumped on every plant change, so that answers for the previous plant are ignored. */
  generation: 0,
};

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The token arrives once as ?token= and is then kept for the tab only, and removed from the address bar. */
function takeToken() {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${state.token}` } });
  if (!res.ok) {
    let message = res.statusText;
    try {
      message = (await res.json()).message || message;
    } catch {
      // not JSON: keep the status text
    }
    throw new ApiError(res.status, message);
  }
  return res.json();
}

function showMessage(text) {
  const el = $('message');
  el.textContent = text;
  el.hidden = !text;
}

function showError(err) {
  if (err.status === 401) showMessage(t('unauthorized'));
  else if (err.status === 403) showMessage(t('forbidden'));
  else showMessage(t('loadFailed') + err.message);
}

function setStatus(key) {
  const el = $('status');
  el.dataset.state = key;
  el.textContent = t(key);
}

const keyOf = (meter, quantity) => `${meter}/${quantity}`;

function formatNumber(value) {
  const abs = Math.abs(value);
  const locale = language() === 'zh' ? 'zh-CN' : 'en';
  // Totalising counters reach ten digits: shorten them (万/亿, K/M/B) to fit a tile at phone width.
  if (abs >= 1e7) return new Intl.NumberFormat(locale, { notation: 'compact', maximumSignificantDigits: 6 }).format(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : 2;
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
}

function formatTime(ts) {
  return new Intl.DateTimeFormat(language() === 'zh' ? 'zh-CN' : 'en', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).format(ts);
}

function describeLimit(limit, unit) {
  const shownUnit = unit === 'pH' ? '' : ` ${unit}`;
  if (limit.min !== undefined && limit.max !== undefined) return `${limit.min}–${limit.max}${shownUnit}`;
  if (limit.max !== undefined) return `≤ ${limit.max}${shownUnit}`;
  return `≥ ${limit.min}${shownUnit}`;
}

function fillPlantSelect() {
  const select = $('plant');
  select.replaceChildren(...state.plants.map((p) => {
    const option = element('option', '', `${localized(p.name)} · ${localized(p.region.name)}`);
    option.value = p.id;
    return option;
  }));
  if (state.plant) select.value = state.plant.id;
}

function renderPlantInfo() {
  const p = state.plant;
  $('plant-info').textContent = p ? `${t('region')}: ${localized(p.region.name)} · ${t('industry')}: ${t(p.industry)}` : '';
}

function createTile(meter, quantity, showMeter) {
  const el = element('article', 'tile');
  const title = element('h3');
  const label = element('span', 'label');
  title.append(label);
  if (showMeter) title.append(' ', element('small', 'meter', localized(meter.name) || meter.id));
  const valueLine = element('p', 'value');
  const num = element('span', 'num');
  const unit = element('span', 'unit');
  valueLine.append(num, ' ', unit);
  const meta = element('p', 'meta');
  const quality = element('span', 'quality');
  const time = element('time');
  meta.append(quality, ' ', time);
  const limit = element('p', 'limit');
  const spark = createSparkline();
  el.append(title, valueLine, meta, limit, spark);
  return { el, parts: { label, num, unit, quality, time, limit, spark }, meter: meter.id, quantity };
}

function renderTile(tile) {
  const q = state.quantities.get(tile.quantity);
  const data = state.readings.get(keyOf(tile.meter, tile.quantity));
  const { parts } = tile;
  const limit = limitFor(state.plant.industry, tile.quantity);
  const value = data ? data.value : null;
  parts.label.textContent = q ? localized(q.label) : tile.quantity;
  parts.label.title = parts.label.textContent;
  parts.num.textContent = value === null || value === undefined ? '—' : formatNumber(value);
  parts.unit.textContent = q && q.unit !== 'pH' ? q.unit : '';
  parts.quality.textContent = data ? t(data.quality) : t('noData');
  parts.time.textContent = data ? formatTime(data.ts) : '';
  tile.el.dataset.quality = data ? data.quality : 'none';
  tile.el.classList.toggle('stale', Boolean(data) && Date.now() - data.ts > STALE_MS);
  const over = exceeds(limit, value);
  tile.el.classList.toggle('over', over);
  parts.limit.textContent = limit ? `${t('limit')} ${describeLimit(limit, q ? q.unit : '')} (${t('provisional')})${over ? ` · ${t('exceeded')}` : ''}` : '';
  drawSparkline(parts.spark, data ? data.points : [], limit ? [limit.max, limit.min] : []);
}

function buildTiles() {
  const plant = state.plant;
  const container = $('groups');
  container.replaceChildren();
  state.tiles = new Map();
  for (const group of GROUPS) {
    const grid = element('div', 'tiles');
    for (const quantity of group.quantities) {
      const meters = plant.meters.filter((m) => m.quantities.includes(quantity));
      for (const meter of meters) {
        const tile = createTile(meter, quantity, meters.length > 1);
        state.tiles.set(keyOf(meter.id, quantity), tile);
        grid.append(tile.el);
        renderTile(tile);
      }
    }
    if (grid.childElementCount === 0) continue;
    const section = element('section', 'group');
    section.append(element('h2', '', t(group.id)), grid);
    container.append(section);
  }
}

/** Take a reading if it is newer than what the tile shows; fold it into the sparkline's current bucket when asked. */
function applyReading(r, addPoint) {
  const key = keyOf(r.meter, r.quantity);
  const tile = state.tiles.get(key);
  if (!tile) return;
  let data = state.readings.get(key);
  if (!data) {
    data = { value: null, ts: 0, quality: 'bad', points: [] };
    state.readings.set(key, data);
  }
  if (r.ts >= data.ts) Object.assign(data, { value: r.value, ts: r.ts, quality: r.quality });
  if (addPoint && r.value !== null) addLivePoint(data, r.ts, r.value);
  renderTile(tile);
}

/**
 * The sparkline shows the same bucket means as /series ([bucket start, mean, count]); a live reading updates the
 * running mean of its bucket, so that raw one-second values and history means do not mix in one line.
 */
function addLivePoint(data, ts, value) {
  const bucket = Math.floor(ts / HISTORY_EVERY_MS) * HISTORY_EVERY_MS;
  const existing = data.points.find((p) => p[0] === bucket);
  if (existing) {
    const count = (existing[2] || 1) + 1;
    existing[1] += (value - existing[1]) / count;
    existing[2] = count;
  } else {
    addPoints(data, [[bucket, value, 1]]);
  }
}

function addPoints(data, points) {
  const last = data.points.length ? data.points[data.points.length - 1][0] : -Infinity;
  const known = new Set(data.points.map((p) => p[0]));
  // A bucket the live stream already started is kept: its running mean includes readings newer than the query.
  data.points.push(...points.filter((p) => !known.has(p[0])));
  if (points.some(([ts]) => ts < last)) data.points.sort((a, b) => a[0] - b[0]);
  const from = Date.now() - HISTORY_MS;
  let drop = 0;
  while (drop < data.points.length && data.points[drop][0] < from) drop++;
  drop = Math.max(drop, data.points.length - MAX_POINTS);
  if (drop > 0) data.points.splice(0, drop);
}

async function loadHistory(generation) {
  const plant = state.plant;
  const path = `/api/plants/${encodeURIComponent(plant.id)}`;
  const latest = await api(`${path}/latest`);
  if (generation !== state.generation) return;
  for (const r of latest.readings) applyReading(r, false);
  const now = Date.now();
  const quantities = [...new Set([...state.tiles.values()].map((tile) => tile.quantity))];
  await Promise.all(quantities.map(async (quantity) => {
    const answer = await api(`${path}/series?quantity=${quantity}&from=${now - HISTORY_MS}&to=${now}&every=${HISTORY_EVERY}`);
    if (generation !== state.generation) return;
    for (const series of answer.series) {
      const key = keyOf(series.meter, quantity);
      const tile = state.tiles.get(key);
      if (!tile || series.points.length === 0) continue;
      if (!state.readings.has(key)) continue; // no latest reading: nothing to draw a line under
      addPoints(state.readings.get(key), series.points);
      renderTile(tile);
    }
  }));
}

function openLive(generation) {
  const plant = state.plant;
  // EventSource cannot send headers: the token goes in the query (the server keeps it out of its logs).
  const source = new EventSource(`/api/live?plant=${encodeURIComponent(plant.id)}&token=${encodeURIComponent(state.token)}`);
  state.source = source;
  setStatus('connecting');
  source.onopen = () => setStatus('live');
  source.onerror = () => setStatus(source.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting');
  source.addEventListener('readings', (event) => {
    if (generation !== state.generation) return;
    const batch = JSON.parse(event.data);
    if (batch.plant !== plant.id) return;
    for (const r of batch.readings) applyReading(r, true);
  });
  // The server could not replay everything missed while disconnected: reload what it holds.
  source.addEventListener('gap', () => loadHistory(generation).catch(showError));
}

async function selectPlant(id) {
  const generation = ++state.generation;
  if (state.source) state.source.close();
  state.plant = state.plants.find((p) => p.id === id);
  history.replaceState(null, '', `#${encodeURIComponent(id)}`);
  state.readings = new Map();
  showMessage('');
  renderPlantInfo();
  buildTiles();
  // Live first, history second: readings arriving meanwhile are kept, and older history does not overwrite them.
  openLive(generation);
  try {
    await loadHistory(generation);
  } catch (err) {
    showError(err);
  }
}

function rerender() {
  fillPlantSelect();
  renderPlantInfo();
  if (state.plant) buildTiles();
  $('lang').textContent = t('switchTo');
  if (state.source) setStatus($('status').dataset.state || 'connecting');
}

async function main() {
  setLanguage(initialLanguage(), false);
  $('lang').textContent = t('switchTo');
  $('lang').addEventListener('click', () => {
    setLanguage(language() === 'zh' ? 'en' : 'zh', true);
    rerender();
  });
  state.token = takeToken();
  if (!state.token) {
    showMessage(t('tokenMissing'));
    return;
  }
  let answer;
  try {
    answer = await api('/api/plants');
  } catch (err) {
    showError(err);
    return;
  }
  state.plants = answer.plants;
  state.quantities = new Map(answer.quantities.map((q) => [q.id, q]));
  if (state.plants.length === 0) {
    showMessage(t('noPlants'));
    return;
  }
  fillPlantSelect();
  $('plant').addEventListener('change', (event) => selectPlant(event.target.value));
  const fromHash = decodeURIComponent(window.location.hash.slice(1));
  await selectPlant(state.plants.some((p) => p.id === fromHash) ? fromHash : state.plants[0].id);
  $('plant').value = state.plant.id;
  // Ages change without new data: re-mark stale tiles now and then.
  setInterval(() => {
    for (const tile of state.tiles.values()) renderTile(tile);
  }, 15_000);
}

main();
