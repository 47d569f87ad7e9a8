/* global document */
// Numbers, times and small DOM helpers shared by the views.
import { language } from './i18n.js';

export const $ = (id) => document.getElementById(id);

export function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

const locale = () => (language() === 'zh' ? 'zh-CN' : 'en');

export function formatNumber(value) {
  const abs = Math.abs(value);
  // Totalising counters reach ten digits: shorten them (万/亿, K/M/B) to fit a tile at phone width.
  if (abs >= 1e7) return new Intl.NumberFormat(locale(), { notation: 'compact', maximumSignificantDigits: 6 }).format(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : 2;
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}

export function formatTime(ts) {
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).format(ts);
}

export function formatDateTime(ts) {
  return new Intl.DateTimeFormat(locale(), { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).format(ts);
}

export function formatTonnes(t) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: t >= 10 ? 1 : 3 }).format(t);
}

/** A share (0.25) as a percentage; small ones (a target's first tonnes) keep two significant digits. */
export function formatShare(x) {
  const abs = Math.abs(x);
  const options = abs > 0 && abs < 0.01 ? { style: 'percent', maximumSignificantDigits: 2 } : { style: 'percent', maximumFractionDigits: 1 };
  return new Intl.NumberFormat(locale(), options).format(x);
}
