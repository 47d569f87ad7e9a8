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

/**
 * The one number format of tiles, chart axes, chart read-outs and alerts: digits grouped by thousands with commas
 * (527,640,600, the same in Chinese and English), never shortened to 万/亿 or K/M (a counter's tile and its chart's
 * axis then read alike), and as many decimals as a reading of that size carries: none from 1,000, one from 100, two
 * from 1, three significant digits below. `decimals` fixes the count (an axis: as many as its step has).
 */
export function formatNumber(value, decimals) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  const options = decimals !== undefined
    ? { minimumFractionDigits: decimals, maximumFractionDigits: decimals }
    : abs >= 1000 ? { maximumFractionDigits: 0 }
      : abs >= 100 ? { maximumFractionDigits: 1 }
        : abs >= 1 || abs === 0 ? { maximumFractionDigits: 2 }
          : { maximumSignificantDigits: 3 };
  return new Intl.NumberFormat(locale(), { useGrouping: true, ...options }).format(value);
}

export function formatTime(ts) {
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: PLANT_TIME_ZONE }).format(ts);
}

export function formatDateTime(ts) {
  return new Intl.DateTimeFormat(locale(), { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: PLANT_TIME_ZONE }).format(ts);
}

/** Labels of a chart's value axis at ticks `increment` apart: formatNumber with as many decimals as the increment has. */
export function formatAxisTicks(splits, increment) {
  const decimals = Math.min(4, (String(increment).split('.')[1] ?? '').length);
  return splits.map((v) => formatNumber(v, decimals));
}

/** A chart's bucket width for people: 5 分钟 / 5 min, 10 秒 / 10 s, 1 小时 / 1 h, 1 天 / 1 d. */
export function formatEvery(ms) {
  const zh = language() === 'zh';
  const [n, zhUnit, enUnit] = ms % 86_400_000 === 0 ? [ms / 86_400_000, '天', 'd'] : ms % 3_600_000 === 0 ? [ms / 3_600_000, '小时', 'h'] : ms % 60_000 === 0 ? [ms / 60_000, '分钟', 'min'] : [ms / 1000, '秒', 's'];
  return zh ? `${n} ${zhUnit}` : `${n} ${enUnit}`;
}

/** A chart's time at the cursor: the time of day within a day, with the date beyond (plant time). */
export function formatChartTime(ts, withDate) {
  const options = withDate
    ? { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: PLANT_TIME_ZONE }
    : { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone: PLANT_TIME_ZONE };
  return new Intl.DateTimeFormat(locale(), options).format(ts);
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
