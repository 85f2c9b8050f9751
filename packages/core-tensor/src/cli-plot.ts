// Draws a metrics.jsonl as an SVG line chart; shared by `rlhfkit plot` and tools/plot-metrics.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMetrics } from './metrics/metrics-logger';
import { metricKeys, renderLineChart, seriesFromMetrics } from './metrics/plot-svg';

export interface PlotMetricsOptions {
  /** A metrics.jsonl file, or a run folder that holds one. */
  input: string;
  /** The SVG to write (default: metrics.svg beside the input). */
  out?: string;
  /** Metric names to draw (default: every name containing "loss", else all). */
  keys?: string[];
  title?: string;
  logY?: boolean;
  width?: number;
  height?: number;
}

export interface PlotMetricsResult {
  /** The metrics file read. */
  file: string;
  /** The SVG written. */
  out: string;
  keys: string[];
  records: number;
}

/** Reads the metrics, checks the keys exist, renders and writes the chart. Errors name the file and the keys it has. */
export function plotMetricsFile(opts: PlotMetricsOptions): PlotMetricsResult {
  const input = opts.input;
  const file = fs.existsSync(input) && fs.statSync(input).isDirectory() ? path.join(input, 'metrics.jsonl') : input;
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist (pass a metrics.jsonl file or the run folder that holds one)`);
  const records = readMetrics(file);
  const all = metricKeys(records);
  if (all.length === 0) throw new Error(`${file} has no numeric metrics to plot`);
  let keys = opts.keys != null && opts.keys.length > 0 ? opts.keys : all.filter((k) => k.includes('loss'));
  if (keys.length === 0) keys = all;
  const missing = keys.filter((k) => !all.includes(k));
  if (missing.length > 0) throw new Error(`${file} has no metric ${missing.map((k) => `'${k}'`).join(', ')}; it has: ${all.join(', ')}`);
  const out = opts.out ?? path.join(path.dirname(file), 'metrics.svg');
  const svg = renderLineChart(seriesFromMetrics(records, keys), {
    title: opts.title ?? path.basename(path.dirname(path.resolve(file))),
    yLabel: keys.length === 1 ? keys[0] : undefined,
    logY: opts.logY,
    width: opts.width,
    height: opts.height,
  });
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, svg);
  return { file, out, keys, records: records.length };
}

/** `--keys a,b --keys c` -> [a, b, c] (yargs arrays and comma lists both work). */
export function splitKeys(raw: string | string[] | undefined): string[] | undefined {
  if (raw == null) return undefined;
  const list = (Array.isArray(raw) ? raw : [raw]).flatMap((k) => String(k).split(',')).map((k) => k.trim()).filter(Boolean);
  return list.length > 0 ? list : undefined;
}
