/* global EventSource */
// One alert: what, where, since when, its transitions (from InfluxDB), and acknowledging it with a comment.
import { api, liveUrl } from './api.js';
import { plantName } from './alerts-ui.js';
import { $, describeError, element, formatDateTime, formatDuration, formatNumber } from './format.js';
import { localized, t } from './i18n.js';

export class AlertView {
  constructor(ctx) {
    this.ctx = ctx;
    this.alert = null;
    this.history = [];
    this.lifecycle = null;
    this.source = null;
    this.generation = 0;
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
    fact('meter', a.meter);
    fact('rule', a.rule);
    if (a.value !== null) fact('value', formatNumber(a.value));
    if (a.limit !== null) fact('limit', formatNumber(a.limit));
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
    $('alert-history').replaceChildren(...(this.historyError ? [element('li', 'list-state error', t('loadFailed') + describeError(this.historyError))] : this.history.map((h) => historyItem(h))));
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

function historyItem(h) {
  const li = element('li', '', `${formatDateTime(h.time)} · ${t(`transition-${h.transition}`)}`);
  li.dataset.transition = h.transition;
  if (h.value !== null) li.append(` · ${t('value')} ${formatNumber(h.value)}`);
  if (h.peak !== null && h.peak !== undefined && h.transition !== 'raised') li.append(` · ${t('peak')} ${formatNumber(h.peak)}`);
  if (h.count !== null && h.transition !== 'raised') li.append(` · ${t('count')} ${h.count}`);
  if (h.sinceRaisedMs !== null && h.sinceRaisedMs !== undefined && h.transition !== 'raised') li.append(` · ${t('afterRaise')} ${formatDuration(h.sinceRaisedMs)}`);
  if (h.transition === 'acknowledged') {
    li.append(` · ${t('ackedBy')} ${h.by ?? t('unknownPerson')}`);
    if (h.comment !== null) li.append(' · ', element('q', '', h.comment));
  }
  return li;
}
