// Training metrics to <dir>/metrics.jsonl (one JSON object per line) and, optionally, TensorBoard.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TensorBoardWriter } from './tfevents';

/** One metrics line: grouped names such as "train/loss", "train/lr", "eval/perplexity", "time/step". */
export type MetricValues = Record<string, number>;

/** A parsed line of metrics.jsonl. Non-finite numbers are written as null (JSON has no NaN). */
export interface MetricsRecord {
  step: number;
  /** Seconds since the Unix epoch when the line was written. */
  time: number;
  [name: string]: number | null;
}

export interface MetricsLoggerOptions {
  /** Also write TensorBoard event files into `dir` (default true). */
  tensorboard?: boolean;
  /** Milliseconds since the epoch (injectable for tests). */
  now?: () => number;
  /** Hostname for the event file name (tests). */
  hostname?: string;
}

/**
 * Appends one line per `log` call with a synchronous write, so a crash loses at most the line being
 * written. Lines from an earlier run in the same folder are kept (a resumed run continues the file).
 */
export class MetricsLogger {
  readonly file: string;
  readonly tensorboard: TensorBoardWriter | null;
  private fd: number | null;
  private readonly now: () => number;

  constructor(readonly dir: string, options: MetricsLoggerOptions = {}) {
    this.now = options.now ?? Date.now;
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'metrics.jsonl');
    this.fd = fs.openSync(this.file, 'a');
    this.tensorboard = options.tensorboard === false ? null : new TensorBoardWriter(dir, { now: this.now, hostname: options.hostname });
  }

  /** Writes `{step, time, ...metrics}`. Keys `step` and `time` in `metrics` are rejected (they would be overwritten). */
  log(step: number, metrics: MetricValues): void {
    if (this.fd === null) throw new Error(`MetricsLogger: ${this.file} is closed`);
    if (!Number.isFinite(step)) throw new RangeError(`MetricsLogger.log: step must be a finite number, got ${step}`);
    if ('step' in metrics || 'time' in metrics) throw new Error("MetricsLogger.log: 'step' and 'time' are reserved; use a grouped name like 'train/step_time'");
    const wall = this.now() / 1000;
    const line: Record<string, number | null> = { step, time: Math.round(wall * 1000) / 1000 };
    for (const [k, v] of Object.entries(metrics)) line[k] = Number.isFinite(v) ? v : null;
    fs.writeSync(this.fd, JSON.stringify(line) + '\n');
    this.tensorboard?.addScalars(metrics, step, wall);
  }

  /** Logs markdown text to TensorBoard only (e.g. the resolved config); metrics.jsonl stays numeric. */
  logText(tag: string, text: string, step = 0): void {
    this.tensorboard?.addText(tag, text, step);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    this.tensorboard?.close();
  }
}

/**
 * Parses metrics.jsonl text. A last line cut off by a crash (no newline, not valid JSON) is skipped; any other
 * malformed line is an error naming its line number.
 */
export function parseMetrics(text: string, file = 'metrics.jsonl'): MetricsRecord[] {
  const lines = text.split('\n');
  // The piece after the last newline is '' or a line whose write was cut off; keep it only if it parses.
  const tail = lines.pop() ?? '';
  if (tail.trim() !== '') {
    try {
      JSON.parse(tail);
      lines.push(tail);
    } catch {
      /* partial last line from a crash */
    }
  }
  const out: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof rec !== 'object' || rec === null || typeof (rec as { step?: unknown }).step !== 'number') {
      throw new Error(`${file}:${i + 1}: expected an object with a numeric "step"`);
    }
    out.push(rec as MetricsRecord);
  });
  return out;
}

/** Reads a metrics.jsonl file (see parseMetrics). */
export function readMetrics(file: string): MetricsRecord[] {
  return parseMetrics(fs.readFileSync(file, 'utf8'), file);
}
