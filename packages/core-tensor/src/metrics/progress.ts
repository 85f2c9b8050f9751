// Console progress: one redrawn line on a terminal, periodic plain lines in logs and CI.

/** Where progress goes; process.stderr fits. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** Step count at which the run ends. */
  total: number;
  /** Prefix such as "sft" or "ppo epoch 1". */
  label?: string;
  stream?: ProgressStream;
  /** Override the stream's isTTY (e.g. force plain lines). */
  tty?: boolean;
  /** Milliseconds, monotonic enough for rates (injectable for tests). */
  now?: () => number;
  /** Plain mode: print every N steps (default: about 20 lines per run)... */
  everySteps?: number;
  /** ...or when this many seconds passed since the last line (default 30). */
  everySeconds?: number;
  /** TTY mode: redraw at most this often, in ms (default 100), except for the last step. */
  redrawMs?: number;
  /** A resumed run starts here; rates and ETA count only the steps done in this process. */
  startStep?: number;
}

/** What one step reports; `tokens` are the tokens processed by this step (for tokens/s). */
export interface ProgressInfo {
  loss?: number;
  lr?: number;
  tokens?: number;
}

/** "45s", "2m05s", "1h02m03s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (h > 0) return `${h}h${pad(m)}m${pad(sec)}s`;
  if (m > 0) return `${m}m${pad(sec)}s`;
  return `${sec}s`;
}

function formatRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

/** Reports training progress; see ProgressOptions for the two modes. */
export class Progress {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly everySteps: number;
  private readonly everyMs: number;
  private readonly redrawMs: number;
  private readonly startTime: number;
  private readonly startStep: number;
  private tokens = 0;
  private lastPrintStep = -1;
  private lastPrintTime: number;
  private lastLine = '';
  private open = false;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.now = options.now ?? (() => performance.now());
    this.everySteps = Math.max(1, options.everySteps ?? Math.ceil(options.total / 20));
    this.everyMs = (options.everySeconds ?? 30) * 1000;
    this.redrawMs = options.redrawMs ?? 100;
    this.startTime = this.now();
    this.startStep = options.startStep ?? 0;
    this.lastPrintStep = this.startStep;
    this.lastPrintTime = this.startTime;
  }

  /** The status line for `step` (exposed for tests and for callers that log it elsewhere). */
  format(step: number, info: ProgressInfo = {}): string {
    const total = this.options.total;
    const elapsed = (this.now() - this.startTime) / 1000;
    const done = step - this.startStep;
    const parts = [`${this.options.label ? this.options.label + ' ' : ''}${step}/${total} (${total > 0 ? Math.floor((100 * step) / total) : 0}%)`];
    if (info.loss !== undefined) parts.push(`loss ${Number.isFinite(info.loss) ? info.loss.toFixed(4) : String(info.loss)}`);
    if (info.lr !== undefined) parts.push(`lr ${info.lr.toExponential(2)}`);
    if (elapsed > 0 && this.tokens > 0) parts.push(`${formatRate(this.tokens / elapsed)} tok/s`);
    if (done > 0 && elapsed > 0) {
      parts.push(`${(elapsed / done).toFixed(2)} s/step`);
      parts.push(step >= total ? `took ${formatDuration(elapsed)}` : `ETA ${formatDuration((elapsed / done) * (total - step))}`);
    }
    return parts.join(' | ');
  }

  /** Records a finished step and prints when due. */
  update(step: number, info: ProgressInfo = {}): void {
    this.tokens += info.tokens ?? 0;
    const t = this.now();
    const last = step >= this.options.total;
    if (this.tty) {
      if (this.open && !last && t - this.lastPrintTime < this.redrawMs) return;
      this.lastLine = this.format(step, info);
      // \x1b[K clears what is left of a longer previous line.
      this.stream.write(`\r${this.lastLine}\x1b[K`);
      this.open = true;
    } else {
      const due = last || step - this.lastPrintStep >= this.everySteps || t - this.lastPrintTime >= this.everyMs;
      if (!due || step === this.lastPrintStep) return;
      this.stream.write(this.format(step, info) + '\n');
    }
    this.lastPrintStep = step;
    this.lastPrintTime = t;
  }

  /** Prints a message on its own line without garbling the progress line (which is redrawn below it). */
  log(message: string): void {
    if (this.tty && this.open) {
      this.stream.write(`\r\x1b[K${message}\n${this.lastLine}`);
    } else {
      this.stream.write(message + '\n');
    }
  }

  /** Ends the progress line (TTY) and optionally prints a closing message. */
  done(message?: string): void {
    if (this.tty && this.open) this.stream.write('\n');
    this.open = false;
    if (message) this.stream.write(message + '\n');
  }
}
