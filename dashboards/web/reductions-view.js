/* global document, fetch, URLSearchParams */
// The reductions page: COD and NH3-N discharged per month against each plant's baseline (or summed per region), with
// the coverage of every figure; a month without data says so instead of showing 0 t. CSV and Excel downloads come from
// the API in the token's scope, with the same figures as the table.
import { api, ApiError, currentToken } from './api.js';
import { $, element, formatShare, formatTonnes, PLANT_TIME_ZONE } from './format.js';
import { localized, t } from './i18n.js';

/** This month (YYYY-MM) in China Standard Time, where months are counted. */
function thisMonth() {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: PLANT_TIME_ZONE, year: 'numeric', month: '2-digit' }).formatToParts(new Date());
  return `${parts.find((p) => p.type === 'year').value}-${parts.find((p) => p.type === 'month').value}`;
}

function monthsBefore(month, n) {
  const [y, m] = month.split('-').map(Number);
  const index = y * 12 + (m - 1) - n;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}

export class ReductionsView {
  constructor(ctx) {
    this.ctx = ctx;
    this.answer = null;
    this.wired = false;
    this.generation = 0;
  }

  async show() {
    this.wire();
    await this.load();
  }

  close() {}

  rerender() {
    if (this.answer) this.render();
  }

  wire() {
    if (this.wired) return;
    this.wired = true;
    const to = thisMonth();
    $('reductions-to').value = to;
    $('reductions-from').value = monthsBefore(to, 2);
    $('reductions-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.load().catch((err) => this.ctx.showError(err));
    });
    for (const format of ['csv', 'xlsx']) {
      $(`reductions-${format}`).addEventListener('click', () => this.download(format).catch((err) => this.ctx.showError(err)));
    }
  }

  query(format) {
    const params = new URLSearchParams({ from: $('reductions-from').value, to: $('reductions-to').value, by: $('reductions-by').value });
    if (format) params.set('format', format);
    return `/api/reductions?${params}`;
  }

  async load() {
    const generation = ++this.generation;
    const answer = await api(this.query());
    if (generation !== this.generation) return;
    this.answer = answer.body;
    this.render();
  }

  render() {
    const { rows, partialBelow } = this.answer;
    const cell = (value, className) => element('td', className, value);
    const tonnes = (x, missing) => (x === null ? cell(t(missing), 'no-figure') : cell(formatTonnes(x), 'figure'));
    const body = rows.map((r) => {
      const tr = element('tr');
      tr.dataset.month = r.month;
      tr.dataset.plant = r.plant;
      tr.dataset.pollutant = r.pollutant;
      tr.dataset.partial = String(r.partial);
      tr.dataset.empty = String(r.dischargedTonnes === null);
      const plant = this.ctx.plants.find((p) => p.id === r.plant);
      const region = localized(this.ctx.plants.find((p) => p.region.id === r.region)?.region.name) || r.region;
      const coverage = cell(`${formatShare(r.coverage)}${r.partial ? ` · ${t('partialData')}` : ''}`, r.partial ? 'coverage partial' : 'coverage');
      tr.append(
        cell(r.month),
        cell(r.plant === '*' ? t('allPlants') : plant ? localized(plant.name) : r.plant),
        cell(t(`national-${r.pollutant}`)),
        tonnes(r.dischargedTonnes, 'noFigure'),
        r.dischargedTonnes === null ? cell('—', 'no-figure') : tonnes(r.baselineTonnes, 'noBaseline'),
        r.reductionTonnes === null ? cell('—', 'no-figure') : cell(formatTonnes(r.reductionTonnes), 'figure'),
        r.reductionShare === null ? cell('—', 'no-figure') : cell(formatShare(r.reductionShare), 'figure'),
        coverage,
        // last: the plant says it already, and the figures come first on a phone
        cell(region),
      );
      return tr;
    });
    $('reductions-rows').replaceChildren(...body);
    $('reductions-empty').hidden = rows.length > 0;
    $('reductions-note').textContent = t('reductionsNote').replace('{partial}', formatShare(partialBelow));
  }

  /** The API's file (same query, in the token's scope), saved under the name the server gives it. */
  async download(format) {
    const res = await fetch(this.query(format), { headers: { authorization: `Bearer ${currentToken()}` } });
    if (!res.ok) throw new ApiError(res.status, res.statusText);
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `cleanstream-reductions.${format}`;
    const url = URL.createObjectURL(await res.blob());
    const link = element('a');
    link.href = url;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
