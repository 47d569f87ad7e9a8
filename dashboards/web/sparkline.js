/* global document */
// A sparkline as inline SVG: a polyline scaled to the points' own range, with an optional limit line.

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 100;
const HEIGHT = 30;

export function createSparkline() {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('aria-hidden', 'true');
  const limit = document.createElementNS(SVG, 'line');
  limit.setAttribute('class', 'spark-limit');
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('class', 'spark-line');
  svg.append(limit, line);
  return svg;
}

/** points: [ts, value][] sorted by ts; limits: numbers to keep in view and draw (the first one is drawn). */
export function drawSparkline(svg, points, limits = []) {
  const [limitLine, line] = svg.childNodes;
  if (points.length === 0) {
    line.setAttribute('points', '');
    limitLine.setAttribute('visibility', 'hidden');
    return;
  }
  const t0 = points[0][0];
  const t1 = points[points.length - 1][0];
  let lo = Infinity;
  let hi = -Infinity;
  for (const [, v] of points) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  // Show the limit only when it is near the data, so that a far-away limit does not flatten the line.
  const limit = limits.find((l) => l !== undefined && l <= hi * 1.5 && l >= lo - Math.abs(lo) * 0.5);
  if (limit !== undefined) {
    lo = Math.min(lo, limit);
    hi = Math.max(hi, limit);
  }
  const span = hi - lo || Math.abs(hi) || 1;
  const x = (ts) => (t1 === t0 ? WIDTH : ((ts - t0) / (t1 - t0)) * WIDTH);
  const y = (v) => HEIGHT - 2 - ((v - lo) / span) * (HEIGHT - 4);
  line.setAttribute('points', points.map(([ts, v]) => `${x(ts).toFixed(2)},${y(v).toFixed(2)}`).join(' '));
  if (limit === undefined) {
    limitLine.setAttribute('visibility', 'hidden');
  } else {
    const ly = y(limit).toFixed(2);
    limitLine.setAttribute('visibility', 'visible');
    for (const [k, v] of [['x1', 0], ['x2', WIDTH], ['y1', ly], ['y2', ly]]) limitLine.setAttribute(k, String(v));
  }
}
