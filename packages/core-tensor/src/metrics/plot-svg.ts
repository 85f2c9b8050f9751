// Dependency-free SVG line charts of training metrics (axes, ticks, legend), for `plot` commands and tools.
import type { MetricsRecord } from './metrics-logger';

/** One line; points with a non-finite y leave a gap. */
export interface Series {
  name: string;
  points: Array<[number, number]>;
}

export interface LineChartOptions {
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Logarithmic y axis (values <= 0 are dropped). */
  logY?: boolean;
  colors?: string[];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** An axis: its ends and the tick values on it (in the axis' own units; log10 units for a log axis). */
export interface Scale {
  lo: number;
  hi: number;
  ticks: number[];
}

/** A linear axis enclosing [min, max] with round ticks: steps of 1, 2 or 5 times a power of ten. */
export function niceScale(min: number, max: number, count = 5): Scale {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { lo: 0, hi: 1, ticks: [] };
  if (min === max) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks };
}

/** Tick values of `niceScale`. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  return niceScale(min, max, count).ticks;
}

/**
 * A log10 axis enclosing [minLog, maxLog] (exponents). Wide ranges get one tick per decade (or every few
 * decades); narrow ones get 1-2-5 (or 1..9) multiples so there are always a few readable labels.
 */
export function logScale(minLog: number, maxLog: number): Scale {
  if (maxLog - minLog >= 1.5) {
    const lo = Math.floor(minLog);
    const hi = Math.ceil(maxLog);
    const every = Math.ceil((hi - lo) / 8);
    const ticks: number[] = [];
    for (let k = lo; k <= hi; k += every) ticks.push(k);
    return { lo, hi: Math.max(hi, ticks[ticks.length - 1]), ticks };
  }
  for (const mults of [[1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    const cands: number[] = [];
    for (let k = Math.floor(minLog) - 1; k <= Math.ceil(maxLog); k++) for (const m of mults) cands.push(Math.log10(m) + k);
    const below = cands.filter((c) => c <= minLog + 1e-12);
    const above = cands.filter((c) => c >= maxLog - 1e-12);
    const lo = below.length ? below[below.length - 1] : minLog;
    const hi = above.length ? above[0] : maxLog;
    const ticks = cands.filter((c) => c >= lo - 1e-12 && c <= hi + 1e-12);
    if (ticks.length >= 3 || mults.length > 3) return { lo, hi: hi > lo ? hi : lo + 1, ticks };
  }
  return { lo: minLog, hi: maxLog, ticks: [] }; // unreachable: the 1..9 pass always returns
}

/** Short tick label: plain for ordinary magnitudes, exponent form for tiny or huge ones. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Renders the series as a standalone SVG document. */
export function renderLineChart(series: Series[], options: LineChartOptions = {}): string {
  const width = options.width ?? 800;
  const height = options.height ?? 450;
  const colors = options.colors ?? PALETTE;
  const logY = options.logY ?? false;
  const m = { top: options.title ? 40 : 20, right: 20, bottom: 50, left: 70 };
  const legendH = 18 * series.length;
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom - legendH;
  const ty = (y: number): number => (logY ? Math.log10(y) : y);
  const usable = (y: number): boolean => Number.isFinite(y) && (!logY || y > 0);

  let xMin = Infinity, xMax = -Infinity, yMin = Infinity, yMax = -Infinity;
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !usable(y)) continue;
      xMin = Math.min(xMin, x);
      xMax = Math.max(xMax, x);
      yMin = Math.min(yMin, ty(y));
      yMax = Math.max(yMax, ty(y));
    }
  }
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (options.title) out.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="16">${esc(options.title)}</text>`);
  if (!Number.isFinite(xMin)) {
    out.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle">no data</text></svg>`);
    return out.join('\n');
  }
  const xScale = niceScale(xMin, xMax, 6);
  const yScale = logY ? logScale(yMin, yMax) : niceScale(yMin, yMax, 5);
  const xTicks = xScale.ticks;
  const yTicks = yScale.ticks;
  const [x0, x1, y0, y1] = [xScale.lo, xScale.hi, yScale.lo, yScale.hi];
  const sx = (x: number): number => m.left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (y: number): number => m.top + plotH - ((y - y0) / (y1 - y0 || 1)) * plotH;
  const r = (v: number): string => v.toFixed(2);

  out.push(`<g stroke="#e5e5e5">`);
  for (const t of yTicks) out.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${r(sy(t))}" y2="${r(sy(t))}"/>`);
  for (const t of xTicks) out.push(`<line x1="${r(sx(t))}" x2="${r(sx(t))}" y1="${m.top}" y2="${m.top + plotH}"/>`);
  out.push('</g>');
  out.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  for (const t of xTicks) {
    out.push(`<text x="${r(sx(t))}" y="${m.top + plotH + 16}" text-anchor="middle">${esc(formatTick(t))}</text>`);
  }
  for (const t of yTicks) {
    out.push(`<text x="${m.left - 6}" y="${r(sy(t) + 4)}" text-anchor="end">${esc(formatTick(logY ? 10 ** t : t))}</text>`);
  }
  out.push(`<text x="${m.left + plotW / 2}" y="${m.top + plotH + 36}" text-anchor="middle">${esc(options.xLabel ?? 'step')}</text>`);
  if (options.yLabel) {
    out.push(`<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel + (logY ? ' (log)' : ''))}</text>`);
  }

  series.forEach((s, i) => {
    const color = colors[i % colors.length];
    const runs: string[][] = [[]];
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !usable(y)) {
        if (runs[runs.length - 1].length > 0) runs.push([]);
        continue;
      }
      runs[runs.length - 1].push(`${r(sx(x))},${r(sy(ty(y)))}`);
    }
    for (const run of runs) {
      if (run.length === 1) {
        const [cx, cy] = run[0].split(',');
        out.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${color}"/>`);
      } else if (run.length > 1) {
        out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${run.join(' ')}"><title>${esc(s.name)}</title></polyline>`);
      }
    }
    const ly = height - legendH - 8 + i * 18 + 10;
    out.push(`<line x1="${m.left}" x2="${m.left + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${m.left + 30}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** One series per key, x = step, skipping records without the key (eval metrics appear only on some steps). */
export function seriesFromMetrics(records: MetricsRecord[], keys: string[]): Series[] {
  return keys.map((key) => ({
    name: key,
    points: records
      .filter((rec) => key in rec)
      .map((rec): [number, number] => [rec.step, rec[key] === null ? NaN : (rec[key] as number)]),
  }));
}

/** Metric names in the records, in first-seen order, without `step` and `time`. */
export function metricKeys(records: MetricsRecord[]): string[] {
  const keys = new Set<string>();
  for (const rec of records) for (const k of Object.keys(rec)) if (k !== 'step' && k !== 'time') keys.add(k);
  return [...keys];
}
