/* global EventSource */
// The regulator's region overview: each plant with its status (from the age and quality of its last data), open
// alerts by severity, and this month's COD and NH3-N loads against last month's; then every open alert in scope.
import { api, liveUrl } from './api.js';
import { OpenAlerts, renderAlertList } from './alerts-ui.js';
import { $, element, formatDateTime, formatTonnes } from './format.js';
import { localized, t } from './i18n.js';

const POLLUTANTS = ['cod', 'nh3n'];

function monthOf(ms) {
  const d = new Date(ms + 8 * 3_600_000);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export class OverviewView {
  constructor(ctx) {
    this.ctx = ctx;
    this.overview = null;
    this.loads = [];
    this.alerts = new OpenAlerts();
    this.source = null;
    this.generation = 0;
    this.refreshTimer = null;
  }

  async show() {
    const generation = ++this.generation;
    this.close();
    this.openLive(generation);
    await this.load(generation);
    // Status follows the age of the data: refresh it now and then.
    this.refreshTimer = setInterval(() => this.load(generation).catch((err) => this.ctx.showError(err)), 30_000);
  }

  close() {
    if (this.source) this.source.close();
    this.source = null;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
  }

  async load(generation) {
    const thisMonth = monthOf(Date.now());
    const lastMonth = monthOf(Date.parse(`${thisMonth}-01T00:00:00+08:00`) - 1);
    const [overview, alerts, loads] = await Promise.all([
      api('/api/overview'),
      api('/api/alerts'),
      // Loads are a nicety: the overview stands without them.
      api(`/api/reductions?from=${lastMonth}&to=${thisMonth}`).catch(() => ({ body: { rows: [] } })),
    ]);
    if (generation !== this.generation) return;
    this.overview = overview.body;
    this.loads = loads.body.rows.filter((r) => r.month === thisMonth);
    const live = [...this.alerts.byId.values()];
    this.alerts.reset(alerts.body.alerts);
    for (const a of live) this.alerts.apply(a);
    this.render();
  }

  rerender() {
    if (this.overview) this.render();
  }

  render() {
    const cards = this.overview.plants.map((p) => this.plantCard(p));
    $('overview-plants').replaceChildren(...cards);
    this.renderAlerts();
  }

  renderAlerts() {
    renderAlertList($('overview-alerts'), $('overview-alerts-none'), this.alerts.list(), { plants: this.ctx.plants, showPlant: true });
    // Alert counts on the cards follow the live list.
    for (const card of $('overview-plants').children) {
      const open = this.alerts.list(card.dataset.plant);
      const counter = card.querySelector('.open-count');
      if (counter) counter.textContent = `${t('openAlerts')}: ${open.length}`;
      card.dataset.worst = open.length ? open[0].severity : 'none';
    }
  }

  plantCard(p) {
    const card = element('article', 'plant-card');
    card.dataset.plant = p.id;
    card.dataset.status = p.status;
    const title = element('h3');
    const link = element('a', '', localized(p.name));
    link.href = `#/plant/${encodeURIComponent(p.id)}`;
    title.append(link, ' ', element('span', `badge status-${p.status}`, t(`status-${p.status}`)));
    const info = element('p', 'muted small', `${localized(p.region.name)} · ${t(p.industry)}`);
    const data = element('p', 'small', p.lastTs ? `${t('lastData')} ${formatDateTime(p.lastTs)} · ${t('meters')} ${p.meters.reporting - p.meters.stale}/${p.meters.total}` : t('noData'));
    const open = this.alerts.list(p.id);
    card.dataset.worst = open.length ? open[0].severity : 'none';
    const alerts = element('p', 'small open-count', `${t('openAlerts')}: ${open.length}`);
    card.append(title, info, data, alerts);
    for (const pollutant of POLLUTANTS) {
      const row = this.loads.find((r) => r.plant === p.id && r.pollutant === pollutant);
      if (!row) continue;
      card.append(this.loadBar(pollutant, row));
    }
    return card;
  }

  /** This month's load so far against last month's total: a bar, and the figures. */
  loadBar(pollutant, row) {
    const wrap = element('div', 'load');
    const label = element('span', 'small', `${t(`load-${pollutant}`)}: ${formatTonnes(row.tonnes)} t`);
    wrap.append(label);
    if (row.previousTonnes) {
      const meter = element('meter');
      meter.min = 0;
      meter.max = row.previousTonnes;
      meter.optimum = 0;
      meter.high = row.previousTonnes * 0.999;
      meter.value = Math.min(row.tonnes, row.previousTonnes);
      meter.title = `${formatTonnes(row.tonnes)} / ${formatTonnes(row.previousTonnes)} t`;
      wrap.append(meter, element('span', 'small muted', ` ${t('ofLastMonth')} ${formatTonnes(row.previousTonnes)} t`));
    }
    return wrap;
  }

  openLive(generation) {
    const source = new EventSource(liveUrl({ types: 'alerts' }));
    this.source = source;
    this.ctx.setStatus('connecting');
    source.onopen = () => this.ctx.setStatus('live');
    source.onerror = () => this.ctx.setStatus(source.readyState === EventSource.CLOSED ? 'offline' : 'reconnecting');
    source.addEventListener('alert', (event) => {
      if (generation !== this.generation) return;
      this.alerts.apply(JSON.parse(event.data));
      this.renderAlerts();
    });
    source.addEventListener('gap', () => this.load(generation).catch((err) => this.ctx.showError(err)));
  }
}
