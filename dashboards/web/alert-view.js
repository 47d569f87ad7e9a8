/* global EventSource */
// One alert: what, where, since when, its transitions (from InfluxDB), and acknowledging it with a comment.
// Names (plant, meter, quantity) in the reader's language from the registry and the catalog, the value and the limit
// with their unit once, and a chart of the meter around the alert's time with the limit it crossed.
import { api, liveUrl } from './api.js';
import { boundText, formatWithUnit, meterName, plantName } from './alerts-ui.js';
import { BucketSeries } from './chart-data.js';
import { chartsAvailable, TileChart } from './chart.js';
import { $, describeError, element, formatDateTime, formatDuration } from './format.js';
import { localized, t } from './i18n.js';

const AROUND_MS = 30 * 60_000;
const MAX_AFTER_MS = 6 * 3_600_000;

export class AlertView {
  constructor(ctx) {
    this.ctx = ctx;
    this.alert = null;
    this.history = [];
    this.lifecycle = null;
    this.source = null;
    this.generation = 0;
    this.chart = null;
    /** The catalog limit of the alert's quantity ({ min?, max? }), when the alert crossed one of its bounds. */
    this.range = null;
    $('ack-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.acknowledge().catch((err) => this.ctx.showError(err));
    });
  }

  async show(id) {
    const generation = ++this.generation;
    this.close();
    this.alert = null;
    this.history = [];
    this.lifecycle = null;
    this.historyError = null;
    this.range = null;
    this.closeChart();
    $('ack-result').textContent = '';
    $('ack-comment').value = '';
    $('alert-back').href = this.ctx.role === 'operator' ? '#/plant' : '#/overview';
    // The alert comes from the dashboard's broker subscription, its history from InfluxDB: one failing leaves the other.
    const [current, history] = await Promise.allSettled([api(`/api/alerts/${encodeURIComponent(id)}`), api(`/api/alerts/history?id=${encodeURIComponent(id)}`)]);
    if (generation !== this.generation) return;
    if (current.status === 'rejected') throw current.reason;
    this.alert = current.value.body;
    if (history.status === 'fulfilled') this.takeHistory(history.value.body);
    else this.historyError = history.reason;
    this.render();
    const alert = this.alert;
    this.openLive(generation, alert);
    this.loadChart(generation, alert).catch((err) => {
      if (generation !== this.generation) return;
      const state = $('alert-chart-state');
      state.textContent = t('loadFailed') + describeError(err);
      state.hidden = false;
    });
  }

  /**
   * The meter's readings from half an hour before the raise to half an hour after the clear (or now), at most six
   * hours after the raise, with the bound it crossed (both bounds of a range) drawn as on the plant page.
   */
  async loadChart(generation, alert) {
    const section = $('alert-chart-section');
    const state = $('alert-chart-state');
    state.hidden = true;
    if (!alert.quantity || !chartsAvailable()) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const now = Date.now();
    const from = alert.raisedAt - AROUND_MS;
    const to = Math.min(now, alert.raisedAt + MAX_AFTER_MS, alert.clearedAt !== undefined ? alert.clearedAt + AROUND_MS : now);
    section.dataset.from = String(from);
    section.dataset.to = String(to);
    section.dataset.raisedAt = String(alert.raisedAt);
    const plant = encodeURIComponent(alert.plant);
    const quantity = encodeURIComponent(alert.quantity);
    const [series, limits] = await Promise.all([
      api(`/api/plants/${plant}/series?quantity=${quantity}&meter=${encodeURIComponent(alert.meter)}&from=${from}&to=${Math.max(to, from + 60_000)}`),
      api(`/api/plants/${plant}/limits`).catch(() => null),
    ]);
    if (generation !== this.generation) return;
    const catalogLimit = (limits?.body.limits ?? []).find((l) => l.quantity === alert.quantity);
    // the catalog's bounds when the alert crossed one of them (both pH bounds), else the bound the rule crossed
    this.range = catalogLimit && alert.limit !== null && (catalogLimit.min === alert.limit || catalogLimit.max === alert.limit) ? catalogLimit : null;
    const comparable = alert.unit === undefined || alert.unit === series.body.unit;
    const lines = this.range ?? (alert.limit !== null && comparable ? { [alert.bound === 'min' ? 'min' : 'max']: alert.limit } : null);
    const points = series.body.series.find((s) => s.meter === alert.meter)?.points ?? [];
    const buckets = new BucketSeries({ everyMs: series.body.everyMs, windowMs: now - from + 86_400_000, maxPoints: 2000 });
    buckets.addHistory(points, now);
    this.closeChart();
    this.chart = new TileChart($('alert-chart'), { windowMs: to - from, everyMs: series.body.everyMs, unit: series.body.unit ?? '', to });
    this.chart.update(buckets, lines);
    if (points.length === 0) {
      state.textContent = t('alertChartNone');
      state.hidden = false;
    }
    // the facts name the bound as the range has it (below the floor / above the ceiling)
    this.render();
  }

  closeChart() {
    this.chart?.destroy();
    this.chart = null;
  }

  takeHistory(body) {
    this.historyError = null;
    this.history = body.transitions;
    this.lifecycle = (body.lifecycles || []).find((l) => l.id === this.alert.id) ?? null;
  }

  close() {
    if (this.source) this.source.close();
    this.source = null;
  }

  /** Leaving the page: the live stream and the chart go. */
  leave() {
    this.close();
    this.closeChart();
  }

  rerender() {
    if (this.alert) this.render();
  }

  render() {
    const a = this.alert;
    const detail = $('alert-detail');
    detail.dataset.state = a.state;
    detail.dataset.severity = a.severity;
    const title = element('h2');
    title.append(element('span', `badge severity-${a.severity}`, t(a.severity)), ' ', element('span', `badge state-${a.state}`, t(a.state)), ' ', localized(a.message));
    const facts = element('dl', 'facts');
    const fact = (label, value) => facts.append(element('dt', '', t(label)), element('dd', '', value));
    fact('plant', plantName(this.ctx.plants, a.plant));
    fact('meter', meterName(this.ctx.plants, a.plant, a.meter));
    const quantity = a.quantity ? this.ctx.quantities?.get(a.quantity) : undefined;
    if (quantity) fact('quantity', localized(quantity.label));
    fact('rule', a.rule);
    const crossing = boundText(a, this.range);
    if (a.value !== null) fact('value', `${formatWithUnit(a.value, a.unit)}${crossing ? ` · ${crossing}` : ''}`);
    if (a.limit !== null) fact(a.bound === 'min' ? 'floor' : crossing === t('bound-max-range') ? 'ceiling' : 'limit', formatWithUnit(a.limit, a.unit));
    if (a.peak !== null && a.peak !== undefined && a.peak !== a.value) fact('peak', formatWithUnit(a.peak, a.unit));
    fact('raisedAt', formatDateTime(a.raisedAt));
    fact('updatedAt', formatDateTime(a.updatedAt));
    fact('count', String(a.count));
    if (a.ackedBy) fact('ackedBy', `${a.ackedBy}${a.ackedAt ? ` · ${formatDateTime(a.ackedAt)}` : ''}`);
    if (a.comment) fact('comment', a.comment);
    if (a.clearedAt) fact('clearedAt', formatDateTime(a.clearedAt));
    detail.replaceChildren(title, facts);
    $('ack-form').hidden = a.state !== 'raised';
    this.renderLifecycle();
    // a history that could not be loaded says so in its place, rather than showing as an alert without transitions
    $('alert-history').replaceChildren(...(this.historyError ? [element('li', 'list-state error', t('loadFailed') + describeError(this.historyError))] : this.history.map((h) => historyItem(h, a.unit))));
  }

  /** Raise → acknowledgement (who, comment) → clear, with how long each took: what an auditor reads first. */
  renderLifecycle() {
    const life = this.lifecycle;
    const list = $('alert-lifecycle');
    list.hidden = !life;
    if (!life) {
      list.replaceChildren();
      return;
    }
    const step = (kind, at, text) => {
      const li = element('li', `step step-${kind}`);
      li.dataset.step = kind;
      li.append(element('strong', '', t(`transition-${kind}`)), ' ', element('time', '', at === null ? '—' : formatDateTime(at)));
      if (text) li.append(element('span', 'step-text', text));
      return li;
    };
    const steps = [step('raised', life.raisedAt, '')];
    if (life.acknowledgedAt !== null) {
      const who = `${t('ackedBy')} ${life.acknowledgedBy ?? t('unknownPerson')} · ${t('afterRaise')} ${formatDuration(life.toAcknowledgeMs)}`;
      const li = step('acknowledged', life.acknowledgedAt, who);
      li.append(element('q', 'step-comment', life.comment ?? t('noComment')));
      steps.push(li);
    } else {
      steps.push(step('acknowledged', null, t('notYet')));
    }
    if (life.clearedAt !== null) {
      const after = `${t('afterRaise')} ${formatDuration(life.toClearMs)}${life.acknowledgedToClearMs !== null ? ` · ${t('afterAck')} ${formatDuration(life.acknowledgedToClearMs)}` : ''}`;
      steps.push(step('cleared', life.clearedAt, after));
    } else {
      steps.push(step('cleared', null, `${t('notYet')} · ${t('openFor')} ${formatDuration(Date.now() - life.raisedAt)}`));
    }
    list.replaceChildren(...steps);
  }

  async acknowledge() {
    const comment = $('ack-comment').value.trim();
    if (!comment) {
      $('ack-result').textContent = t('commentRequired');
      return;
    }
    $('ack-submit').disabled = true;
    $('ack-result').textContent = t('sending');
    try {
      const { status, body } = await api(`/api/alerts/${encodeURIComponent(this.alert.id)}/ack`, { method: 'POST', body: { comment } });
      this.alert = body.alert;
      $('ack-result').textContent = status === 200 ? t('ackConfirmed') : t('ackPending');
      this.render();
      this.reloadHistorySoon(this.generation);
    } catch (err) {
      $('ack-result').textContent = '';
      if (err.status === 409) {
        const { body } = await api(`/api/alerts/${encodeURIComponent(this.alert.id)}`);
        this.alert = body;
        this.render();
      }
      throw err;
    } finally {
      $('ack-submit').disabled = false;
    }
  }

  /** The rules stage writes a transition to InfluxDB on its next tick after publishing it: ask a little later. */
  reloadHistorySoon(generation) {
    clearTimeout(this.historyTimer);
    this.historyTimer = setTimeout(async () => {
      try {
        const { body } = await api(`/api/alerts/history?id=${encodeURIComponent(this.alert.id)}`);
        if (generation !== this.generation) return;
        this.takeHistory(body);
        this.render();
      } catch (err) {
        if (generation !== this.generation) return;
        this.historyError = err;
        this.render();
      }
    }, 1500);
  }

  openLive(generation, alert) {
    const source = new EventSource(liveUrl({ plant: alert.plant, types: 'alerts' }));
    this.source = source;
    this.ctx.watchStream(source);
    source.addEventListener('alert', (event) => {
      if (generation !== this.generation) return;
      const next = JSON.parse(event.data);
      if (next.id !== this.alert.id) return;
      this.alert = next;
      this.render();
      this.reloadHistorySoon(generation);
    });
  }
}

function historyItem(h, unit) {
  const li = element('li', '', `${formatDateTime(h.time)} · ${t(`transition-${h.transition}`)}`);
  li.dataset.transition = h.transition;
  if (h.value !== null) li.append(` · ${t('value')} ${formatWithUnit(h.value, unit)}`);
  if (h.peak !== null && h.peak !== undefined && h.transition !== 'raised') li.append(` · ${t('peak')} ${formatWithUnit(h.peak, unit)}`);
  if (h.count !== null && h.transition !== 'raised') li.append(` · ${t('count')} ${h.count}`);
  if (h.sinceRaisedMs !== null && h.sinceRaisedMs !== undefined && h.transition !== 'raised') li.append(` · ${t('afterRaise')} ${formatDuration(h.sinceRaisedMs)}`);
  if (h.transition === 'acknowledged') {
    li.append(` · ${t('ackedBy')} ${h.by ?? t('unknownPerson')}`);
    if (h.comment !== null) li.append(' · ', element('q', '', h.comment));
  }
  return li;
}
