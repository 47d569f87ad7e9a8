/* global EventSource */
// The regulator's region overview: the national year-to-date reductions against the plan's targets (admins and
// regulators), each plant with its status (from the age and quality of its last data), open alerts by severity, and
// this month's COD and NH3-N reductions against its baseline as progress bars; then every open alert in scope.
import { api, liveUrl } from './api.js';
import { alertItem, OpenAlerts, renderListState } from './alerts-ui.js';
import { $, element, formatDateTime, formatShare, formatTonnes } from './format.js';
import { localized, t } from './i18n.js';

const POLLUTANTS = ['cod', 'nh3n'];
const SEVERITY_ORDER = ['critical', 'major', 'minor', 'warning'];

/**
 * A plant's compliance as the open alerts say it, apart from its data health: the worst open severity; `none` only
 * while its data flow (an offline plant or one without data raises nothing, so its compliance is `unknown`).
 */
export function complianceOf(openAlerts, status) {
  for (const severity of SEVERITY_ORDER) if (openAlerts.some((a) => a.severity === severity)) return severity;
  return status === 'offline' || status === 'no-data' ? 'unknown' : 'none';
}

function monthOf(ms) {
  const d = new Date(ms + 8 * 3_600_000);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export class OverviewView {
  constructor(ctx) {
    this.ctx = ctx;
    this.overview = null;
    this.reductions = [];
    this.national = null;
    this.alerts = new OpenAlerts();
    /** Each list's load: 'loading', 'loaded', or the error that kept it from loading. */
    this.plantsLoad = 'loading';
    this.alertsLoad = 'loading';
    this.source = null;
    this.generation = 0;
    this.refreshTimer = null;
  }

  async show() {
    const generation = ++this.generation;
    this.close();
    this.overview = null;
    this.plantsLoad = 'loading';
    this.alertsLoad = 'loading';
    this.alerts.reset([]);
    this.render();
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

  /** Plants and alerts load apart: one failing shows its error in its own place, the other still shows. */
  async load(generation) {
    const thisMonth = monthOf(Date.now());
    const [overview, alerts, reductions] = await Promise.allSettled([
      api('/api/overview'),
      api('/api/alerts'),
      // Reductions are a nicety: the overview stands without them.
      api(`/api/reductions?from=${thisMonth}&to=${thisMonth}`).catch(() => ({ body: { rows: [], national: null } })),
    ]);
    if (generation !== this.generation) return;
    if (overview.status === 'fulfilled') {
      this.overview = overview.value.body;
      this.plantsLoad = 'loaded';
    } else {
      // stale cards would show a status the server could not confirm: the error takes their place
      this.overview = null;
      this.plantsLoad = overview.reason;
    }
    if (reductions.status === 'fulfilled') {
      this.reductions = reductions.value.body.rows;
      this.national = reductions.value.body.national;
    }
    if (alerts.status === 'fulfilled') {
      const live = [...this.alerts.byId.values()];
      this.alerts.reset(alerts.value.body.alerts);
      for (const a of live) this.alerts.apply(a);
      this.alertsLoad = 'loaded';
    } else {
      this.alertsLoad = alerts.reason;
    }
    this.render();
  }

  rerender() {
    this.render();
  }

  render() {
    const cards = this.overview ? this.overview.plants.map((p) => this.plantCard(p)) : [];
    $('overview-plants').replaceChildren(...cards);
    renderListState($('overview-plants-state'), this.plantsLoad, cards.length, 'noPlants');
    this.renderNational();
    this.renderAlerts();
  }

  renderAlerts() {
    const alerts = this.alerts.list();
    $('overview-alerts').replaceChildren(...alerts.map((a) => alertItem(a, { plants: this.ctx.plants, showPlant: true })));
    renderListState($('overview-alerts-none'), this.alertsLoad, alerts.length, 'noOpenAlerts');
    // Compliance on the cards follows the live list.
    for (const card of $('overview-plants').children) this.renderCompliance(card);
  }

  /** Open exceedances by severity, worst first: critical or major is never shown green. */
  renderCompliance(card) {
    const open = this.alerts.list(card.dataset.plant);
    const compliance = complianceOf(open, card.dataset.status);
    card.dataset.compliance = compliance;
    card.dataset.worst = open.length ? open[0].severity : 'none';
    const badge = card.querySelector('.compliance-badge');
    badge.className = `badge compliance-badge compliance-${compliance}`;
    badge.textContent = t(`compliance-${compliance}`);
    const counts = SEVERITY_ORDER.map((s) => [s, open.filter((a) => a.severity === s).length]).filter(([, n]) => n > 0);
    card.querySelector('.open-count').textContent = counts.length ? `${t('exceedances')}: ${counts.map(([s, n]) => `${t(s)} ${n}`).join(' · ')}` : '';
    // the alert list could not be loaded: the badge cannot say "none"
    if (this.alertsLoad !== 'loaded' && this.alertsLoad !== 'loading' && open.length === 0) {
      card.dataset.compliance = 'unknown';
      badge.className = 'badge compliance-badge compliance-unknown';
      badge.textContent = t('compliance-unknown-alerts');
    }
  }

  plantCard(p) {
    const card = element('article', 'plant-card');
    card.dataset.plant = p.id;
    card.dataset.status = p.status;
    const title = element('h3');
    const link = element('a', '', localized(p.name));
    link.href = `#/plant/${encodeURIComponent(p.id)}`;
    title.append(link, ' ', element('span', 'badge compliance-badge'));
    const info = element('p', 'muted small', `${localized(p.region.name)} · ${t(p.industry)}`);
    const alerts = element('p', 'small open-count');
    // data health apart from compliance: whether the meters report, not whether the plant discharges within limits
    const health = element('p', 'small data-health');
    health.append(`${t('dataHealth')}: `, element('span', `badge status-${p.status}`, t(`status-${p.status}`)), ` · ${t('meters')} `);
    const online = element('span', 'meters-online', `${p.meters.total - p.meters.stale}/${p.meters.total}`);
    health.append(online);
    if (p.lastTs) health.append(` · ${t('lastData')} ${formatDateTime(p.lastTs)}`);
    card.append(title, info, alerts, health);
    this.renderCompliance(card);
    for (const pollutant of POLLUTANTS) {
      const row = this.reductions.find((r) => r.plant === p.id && r.pollutant === pollutant);
      if (row) card.append(this.reductionBar(row));
    }
    return card;
  }

  /**
   * This month's reduction against the plant's baseline: a bar filled by the share of the baseline-implied load that
   * was not discharged, and the figures. Discharging more than the baseline implies shows an empty bar, flagged.
   */
  reductionBar(row) {
    const wrap = element('div', 'reduction');
    wrap.dataset.pollutant = row.pollutant;
    wrap.dataset.partial = String(row.partial);
    const name = t(`reduction-${row.pollutant}`);
    if (row.dischargedTonnes === null) {
      wrap.append(element('span', 'small', `${name}: ${t('noFigure')}`));
      return wrap;
    }
    if (row.partial) wrap.append(element('span', 'small partial', `${t('partialData')} · ${t('coverage')} ${formatShare(row.coverage)}`));
    if (row.baselineTonnes === null) {
      wrap.append(element('span', 'small', `${name}: ${t('discharged')} ${formatTonnes(row.dischargedTonnes)} t · ${t('noBaseline')}`));
      return wrap;
    }
    const above = row.reductionTonnes < 0;
    wrap.dataset.above = String(above);
    const share = row.reductionShare ?? 0;
    const label = above ? `${t('aboveBaseline')} ${formatTonnes(-row.reductionTonnes)} t` : `${t('reduced')} ${formatTonnes(row.reductionTonnes)} t (${formatShare(share)})`;
    const bar = element('progress');
    bar.max = 1;
    bar.value = Math.max(0, Math.min(1, share));
    bar.setAttribute('aria-label', `${name}: ${label}`);
    bar.title = `${formatTonnes(row.dischargedTonnes)} / ${formatTonnes(row.baselineTonnes)} t`;
    wrap.append(
      element('span', 'small', `${name}: ${label}`),
      bar,
      element('span', 'small muted', `${t('discharged')} ${formatTonnes(row.dischargedTonnes)} t / ${t('baseline')} ${formatTonnes(row.baselineTonnes)} t`),
    );
    return wrap;
  }

  /** The nation's year-to-date reductions against the plan's targets: for admins and regulators, once rules wrote them. */
  renderNational() {
    const section = $('national');
    const progress = this.national ? this.national.pollutants : [];
    section.hidden = progress.length === 0;
    const bars = progress.map((n) => {
      const wrap = element('div', 'reduction national-bar');
      wrap.dataset.pollutant = n.pollutant;
      const label = `${t(`national-${n.pollutant}`)}: ${t('reduced')} ${formatTonnes(n.yearToDateTonnes)} t / ${t('target')} ${formatTonnes(n.targetTonnes)} t (${formatShare(n.progress)})`;
      const bar = element('progress');
      bar.max = 1;
      bar.value = Math.max(0, Math.min(1, n.progress));
      bar.setAttribute('aria-label', label);
      wrap.append(element('span', 'small', label), bar);
      return wrap;
    });
    $('national-bars').replaceChildren(...bars);
    $('national-as-of').textContent = progress.length ? `${t('yearToDate')} ${progress[0].month}` : '';
  }

  openLive(generation) {
    const source = new EventSource(liveUrl({ types: 'alerts' }));
    this.source = source;
    this.ctx.watchStream(source);
    source.addEventListener('alert', (event) => {
      if (generation !== this.generation) return;
      this.alerts.apply(JSON.parse(event.data));
      this.renderAlerts();
    });
    source.addEventListener('gap', () => this.load(generation).catch((err) => this.ctx.showError(err)));
  }
}
