/* global document */
// Numbers, times and small DOM helpers shared by the views.
import { language, t } from './i18n.js';

export const $ = (id) => document.getElementById(id);

export function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

export const locale = () => (language() === 'zh' ? 'zh-CN' : 'en');

/**
 * Times are shown in the plants' local time, China Standard Time, wherever the browser is: what an operator reads
 * must match the plant's own records and the months reductions are counted in. (The registry has no time zone field:
 * every plant is in China.)
 */
export const PLANT_TIME_ZONE = 'Asia/Shanghai';

export function formatNumber(value) {
  const abs = Math.abs(value);
  // Totalising counters reach ten digits: shorten them (万/亿, K/M/B) to fit a tile at phone width.
  if (abs >= 1e7) return new Intl.NumberFormat(locale(), { notation: 'compact', maximumSignificantDigits: 6 }).format(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : 2;
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}

export function formatTime(ts) {
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: PLANT_TIME_ZONE }).format(ts);
}

export function formatDateTime(ts) {
  return new Intl.DateTimeFormat(locale(), { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: PLANT_TIME_ZONE }).format(ts);
}

/**
 * Labels of a chart's value axis at ticks `increment` apart: as many decimals as the increment has, and compact (万,
 * 亿 / K, M) only where four significant digits still tell the ticks apart (a totalising counter's do not).
 */
export function formatAxisTicks(splits, increment) {
  const top = Math.max(0, ...splits.map((v) => Math.abs(v)));
  if (top >= 1e5 && increment >= top / 1e3) {
    const compact = new Intl.NumberFormat(locale(), { notation: 'compact', maximumSignificantDigits: 4 });
    return splits.map((v) => compact.format(v));
  }
  const decimals = Math.min(4, (String(increment).split('.')[1] ?? '').length);
  const plain = new Intl.NumberFormat(locale(), { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  return splits.map((v) => plain.format(v));
}

export function formatTonnes(t) {
  // kilograms of a partial month must not round to a "0 t" that reads as nothing discharged
  if (t !== 0 && Math.abs(t) < 0.001) return new Intl.NumberFormat(locale(), { maximumSignificantDigits: 2 }).format(t);
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: t >= 10 ? 1 : 3 }).format(t);
}

/** A share (0.25) as a percentage; small ones (a target's first tonnes) keep two significant digits. */
export function formatShare(x) {
  const abs = Math.abs(x);
  const options = abs > 0 && abs < 0.01 ? { style: 'percent', maximumSignificantDigits: 2 } : { style: 'percent', maximumFractionDigits: 1 };
  return new Intl.NumberFormat(locale(), options).format(x);
}

/** A duration for people: "1小时5分" / "1 h 5 min"; seconds under a minute; null stays "—". */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const zh = language() === 'zh';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return zh ? `${s}秒` : `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return zh ? `${m}分${s % 60 ? `${s % 60}秒` : ''}` : `${m} min${s % 60 ? ` ${s % 60} s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return zh ? `${h}小时${m % 60 ? `${m % 60}分` : ''}` : `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
  const d = Math.floor(h / 24);
  return zh ? `${d}天${h % 24 ? `${h % 24}小时` : ''}` : `${d} d${h % 24 ? ` ${h % 24} h` : ''}`;
}

/** What went wrong, for people: never the server's internals (addresses, database names) for a 5xx. */
export function describeError(err) {
  if (err.status === 401) return t('unauthorized');
  if (err.status === 403) return t('forbidden');
  if (err.status === 404) return t('notFound');
  if (err.status === 409) return t('conflict') + err.message;
  const code = err.code ? ` (${err.code})` : '';
  if (!err.status) return t('errNetwork');
  if (err.status === 502 || err.status === 503 || err.status === 504) return t('errUpstream') + code;
  if (err.status >= 500) return t('errServer') + code;
  return err.message;
}
