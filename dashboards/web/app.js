/* global window, document */
// The page: who the token belongs to decides where it starts (an operator on its plant, a regulator or an admin on the
// region overview); the address's hash chooses the view: #/plant/<id>, #/overview, #/alert/<id>, #/reductions.
import { api, takeToken } from './api.js';
import { AlertView } from './alert-view.js';
import { $, describeError, formatTime } from './format.js';
import { initialLanguage, language, localized, setLanguage, t } from './i18n.js';
import { StreamLiveness } from './liveness.js';
import { OverviewView } from './overview-view.js';
import { PlantView } from './plant-view.js';
import { ReductionsView } from './reductions-view.js';

const ctx = {
  plants: [],
  quantities: new Map(),
  role: null,
  /** The live indicator follows the one stream the current view reads. */
  stream: new StreamLiveness(),
  source: null,
  /** Take a view's EventSource: its opening, errors and heartbeats drive the indicator; views report data messages. */
  watchStream(source) {
    ctx.source = source;
    ctx.stream.reset(Date.now());
    source.addEventListener('open', () => {
      if (ctx.source === source) ctx.stream.opened(Date.now());
      renderStatus();
    });
    source.addEventListener('error', () => {
      if (ctx.source === source && source.readyState !== 1) ctx.stream.dropped(Date.now());
      renderStatus();
    });
    source.addEventListener('heartbeat', (event) => {
      if (ctx.source !== source) return;
      const beat = JSON.parse(event.data);
      ctx.stream.heartbeat(beat.everyMs, beat.broker, Date.now());
      renderStatus();
    });
    renderStatus();
  },
  dataArrived(source, from) {
    if (ctx.source !== source) return;
    ctx.stream.message(from, Date.now());
  },
  showMessage(text) {
    const el = $('message');
    el.textContent = text;
    el.hidden = !text;
  },
  showError(err) {
    const text = describeError(err);
    ctx.showMessage([401, 403, 404, 409].includes(err.status) ? text : t('loadFailed') + text);
  },
};

/** The indicator: 实时 / 连接中… / 已中断 自 hh:mm:ss (why, in its title). */
function renderStatus() {
  const el = $('status');
  if (!ctx.source) {
    el.textContent = '';
    delete el.dataset.state;
    return;
  }
  const { state, since, reason } = ctx.stream.state(Date.now());
  el.dataset.state = state;
  el.textContent = state === 'down' ? `${t('down')} ${t('since')} ${formatTime(since)}` : t(state);
  el.title = reason ? t(`down-${reason}`) : '';
  if (since !== null) el.dataset.since = String(since);
  else delete el.dataset.since;
}
setInterval(renderStatus, 1000);

const views = { plant: new PlantView(ctx), overview: new OverviewView(ctx), alert: new AlertView(ctx), reductions: new ReductionsView(ctx) };
let currentView = null;
let lastPlant = null;

function showView(name) {
  for (const [id, view] of Object.entries(views)) {
    if (id !== name) view.close();
    $(`view-${id}`).hidden = id !== name;
  }
  $('plant-choice').hidden = name !== 'plant';
  currentView = name;
}

function fillPlantSelect() {
  $('plant').replaceChildren(...ctx.plants.map((p) => {
    const option = document.createElement('option');
    option.value = p.id;
    option.textContent = `${localized(p.name)} · ${localized(p.region.name)}`;
    return option;
  }));
  if (lastPlant) $('plant').value = lastPlant;
}

function defaultRoute() {
  return ctx.role === 'operator' ? `#/plant/${encodeURIComponent(ctx.plants[0].id)}` : '#/overview';
}

async function route() {
  const hash = decodeURIComponent(window.location.hash.slice(1));
  const [, view, arg] = /^\/?([a-z]+)(?:\/(.+))?$/.exec(hash) ?? [];
  ctx.showMessage('');
  try {
    if (view === 'overview') {
      showView('overview');
      await views.overview.show();
    } else if (view === 'reductions') {
      showView('reductions');
      await views.reductions.show();
    } else if (view === 'alert' && arg) {
      showView('alert');
      await views.alert.show(arg);
    } else if (view === 'plant' || (!view && ctx.plants.some((p) => p.id === hash))) {
      const id = arg ?? (view ? lastPlant ?? ctx.plants[0].id : hash);
      const plant = ctx.plants.find((p) => p.id === id);
      if (!plant) {
        // Not in scope (or no such plant): the API would answer 403 too; say so rather than show another plant.
        showView('plant');
        $('groups').replaceChildren();
        $('plant-info').textContent = '';
        ctx.showMessage(t('forbidden'));
        return;
      }
      lastPlant = plant.id;
      $('plant').value = plant.id;
      showView('plant');
      await views.plant.show(plant);
    } else {
      window.location.replace(defaultRoute());
    }
  } catch (err) {
    ctx.showError(err);
  }
}

function rerender() {
  fillPlantSelect();
  $('lang').textContent = t('switchTo');
  if (currentView) views[currentView].rerender();
  renderStatus();
}

async function main() {
  setLanguage(initialLanguage(), false);
  $('lang').textContent = t('switchTo');
  $('lang').addEventListener('click', () => {
    setLanguage(language() === 'zh' ? 'en' : 'zh', true);
    rerender();
  });
  if (!takeToken()) {
    ctx.showMessage(t('tokenMissing'));
    return;
  }
  try {
    const [me, plants] = await Promise.all([api('/api/me'), api('/api/plants')]);
    ctx.role = me.body.role;
    ctx.plants = plants.body.plants;
    ctx.quantities = new Map(plants.body.quantities.map((q) => [q.id, q]));
  } catch (err) {
    ctx.showError(err);
    return;
  }
  document.body.dataset.role = ctx.role;
  if (ctx.plants.length === 0) {
    ctx.showMessage(t('noPlants'));
    return;
  }
  $('nav').hidden = false;
  fillPlantSelect();
  $('plant').addEventListener('change', (event) => {
    window.location.hash = `#/plant/${encodeURIComponent(event.target.value)}`;
  });
  window.addEventListener('hashchange', route);
  await route();
}

main();
