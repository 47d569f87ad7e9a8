// An alert as a list item, and the open-alerts list kept current from the live stream.
import { localized, t } from './i18n.js';
import { describeError, element, formatDateTime, formatNumber } from './format.js';

const RANK = { warning: 0, minor: 1, major: 2, critical: 3 };

export function sortAlerts(alerts) {
  return [...alerts].sort((a, b) => RANK[b.severity] - RANK[a.severity] || b.raisedAt - a.raisedAt);
}

/** Open alerts by id: `apply` takes an alert state from the live stream. */
export class OpenAlerts {
  constructor() {
    this.byId = new Map();
  }

  reset(alerts) {
    this.byId = new Map(alerts.filter((a) => a.state !== 'cleared').map((a) => [a.id, a]));
  }

  apply(alert) {
    const held = this.byId.get(alert.id);
    if (held && held.updatedAt > alert.updatedAt) return;
    // A later alert of the same slot supersedes an earlier one (rules keeps one alert per rule × plant × meter).
    for (const [id, a] of this.byId) if (id !== alert.id && a.plant === alert.plant && a.rule === alert.rule && a.meter === alert.meter) this.byId.delete(id);
    if (alert.state === 'cleared') this.byId.delete(alert.id);
    else this.byId.set(alert.id, alert);
  }

  list(plant) {
    return sortAlerts([...this.byId.values()].filter((a) => plant === undefined || a.plant === plant));
  }
}

export function plantName(plants, id) {
  const plant = plants.find((p) => p.id === id);
  return plant ? localized(plant.name) : id;
}

/** A meter's name from the registry in the reader's language; its id when the registry names it not. */
export function meterName(plants, plantId, meterId) {
  const meter = plants.find((p) => p.id === plantId)?.meters.find((m) => m.id === meterId);
  return (meter && localized(meter.name)) || meterId;
}

/** "52.4 mg/L"; a pH value has no unit after it (its unit is its name); a count none at all. */
export function formatWithUnit(value, unit) {
  const number = formatNumber(value);
  return unit && unit !== 'pH' ? `${number} ${unit}` : number;
}

/**
 * What the value did to the bound it crossed, in the reader's language: below the floor, above the ceiling (of a
 * range: `range` is the quantity's limit with both bounds, when the crossed bound is one of them), above the limit.
 */
export function boundText(alert, range) {
  if (alert.bound === 'min') return t('bound-min');
  if (alert.bound === 'max') return range && range.min !== undefined && range.max === alert.limit ? t('bound-max-range') : t('bound-max');
  return '';
}

export function alertItem(alert, { plants, showPlant }) {
  const li = element('li', 'alert-item');
  li.dataset.alertId = alert.id;
  li.dataset.severity = alert.severity;
  li.dataset.state = alert.state;
  const link = element('a');
  link.href = `#/alert/${encodeURIComponent(alert.id)}`;
  const head = element('span', 'alert-head');
  head.append(element('span', `badge severity-${alert.severity}`, t(alert.severity)), ' ', element('span', `badge state-${alert.state}`, t(alert.state)));
  if (showPlant) head.append(' ', element('strong', 'alert-plant', plantName(plants, alert.plant)));
  const message = element('span', 'alert-message', localized(alert.message));
  const meta = element('span', 'alert-meta', `${t('raisedAt')} ${formatDateTime(alert.raisedAt)}`);
  if (alert.value !== null) meta.append(` · ${t('value')} ${formatWithUnit(alert.value, alert.unit)}`);
  if (alert.limit !== null) meta.append(` / ${t(alert.bound === 'min' ? 'floor' : 'limit')} ${formatWithUnit(alert.limit, alert.unit)}`);
  link.append(head, message, meta);
  li.append(link);
  return li;
}

/**
 * The line under a list: loading, the error that kept it from loading (in the list's place, so that a failed list
 * never reads as an empty one), or "none" when it loaded empty.
 */
export function renderListState(el, load, count, noneKey) {
  el.classList.toggle('error', load !== 'loading' && load !== 'loaded');
  el.dataset.load = load === 'loading' || load === 'loaded' ? load : 'failed';
  if (load === 'loading') {
    el.textContent = t('loading');
    el.hidden = count > 0;
  } else if (load === 'loaded') {
    el.textContent = t(noneKey);
    el.hidden = count > 0;
  } else {
    el.textContent = t('loadFailed') + describeError(load);
    el.hidden = false;
  }
}
