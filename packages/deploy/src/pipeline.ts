// e2e_rlhf.py: each step as its own process from training_scripts/, its log in the step folder, finished steps skipped, timed.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHECKPOINTS_DIR, formatDuration, listCheckpoints } from '@rlhfkit/core-tensor';

/** One step of a pipeline run. */
export interface PipelineStep {
  /** 1, 2 or 3 (what "Running Step N" prints). */
  number: number;
  /** e.g. "supervised fine-tuning". */
  title: string;
  /** The bash script and its positional arguments. */
  script: string;
  args: string[];
  /** The step's output folder (its training.log and model go there). */
  outputDir: string;
  /** The file that the finished step leaves (relative to outputDir), e.g. config.json or actor/config.json. */
  doneFile: string;
  /** Extra environment for the script (model overrides). */
  env?: Record<string, string>;
}

export interface PipelineOptions {
  /** Re-run steps that finished before (their output folder is replaced). */
  force?: boolean;
  log?: (line: string) => void;
  /** Lines of the log printed when a step fails (default 20). */
  tailLines?: number;
  /** A terminal to show each step's progress line on while it runs (null: none). */
  progress?: NodeJS.WriteStream | null;
}

export interface StepTiming {
  step: number;
  seconds: number;
  /** 'ran', 'resumed', or 'skipped' (finished before). */
  status: 'ran' | 'resumed' | 'skipped';
}

/** A step that exited non-zero: names the log and shows its end. */
export class StepFailedError extends Error {
  constructor(readonly step: number, readonly logFile: string, readonly code: number | null, tail: string) {
    super(`Step ${step} exited with ${code === null ? 'a signal' : `status ${code}`}; its log is ${logFile}. Last lines:\n${tail}`);
    this.name = 'StepFailedError';
  }
}

/** The marker the pipeline writes when a step's process exited 0; a step folder with it is not run again. */
export const STEP_DONE_FILE = '.rlhfkit-step-done.json';

/** H:MM:SS, as e2e_rlhf.py prints datetime.timedelta. */
export function hms(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** Whether a step finished in an earlier run: its marker and its model file are there. */
export function stepFinished(s: PipelineStep): boolean {
  return fs.existsSync(path.join(s.outputDir, STEP_DONE_FILE)) && fs.existsSync(path.join(s.outputDir, s.doneFile));
}

function tail(file: string, n: number): string {
  if (!fs.existsSync(file)) return '(no log was written)';
  const lines = fs.readFileSync(file, 'utf8').replace(/\r/g, '\n').split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-n).map((l) => `  ${l}`).join('\n');
}

/** The last non-empty line of a log (the step's progress line), read from its tail only. */
function lastLine(file: string): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const n = Math.min(size, 4096);
      const buf = Buffer.alloc(n);
      fs.readSync(fd, buf, 0, n, size - n);
      const lines = buf.toString('utf8').split(/[\r\n]/).filter((l) => l.trim() !== '');
      return lines[lines.length - 1] ?? '';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/**
 * Runs `bash script args`; the script writes the step's output to its training.log. On a terminal the log's last line
 * (the step's progress line) is shown on one redrawn line meanwhile.
 */
function runScript(s: PipelineStep, extraFlags: string, stream: NodeJS.WriteStream | null): Promise<number | null> {
  fs.mkdirSync(s.outputDir, { recursive: true });
  const logFile = path.join(s.outputDir, 'training.log');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [s.script, ...s.args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...(s.env ?? {}), RLHFKIT_STEP_FLAGS: extraFlags, FORCE_COLOR: '0' },
    });
    const width = Math.max(20, (stream?.columns ?? 100) - 1);
    const timer = stream
      ? setInterval(() => {
          const line = lastLine(logFile);
          if (line) stream.write(`\r${line.slice(0, width)}\x1b[K`);
        }, 1000)
      : null;
    const stop = (): void => {
      if (timer) {
        clearInterval(timer);
        stream?.write('\r\x1b[K');
      }
    };
    // Ctrl-C reaches the step too (same process group): it saves a checkpoint, and a rerun of the pipeline resumes it.
    child.on('error', (e) => {
      stop();
      reject(e);
    });
    child.on('exit', (code, signal) => {
      stop();
      resolve(signal ? null : code);
    });
  });
}

/**
 * Runs the steps in order. A finished step is skipped (unless force); an interrupted one (checkpoints but no marker) is
 * resumed with --resume_from_checkpoint latest; a failing one stops the pipeline with a StepFailedError. Prints
 * DeepSpeed-Chat's "---=== Running Step N ===---" / "---=== Finished Step N in H:MM:SS ===---" lines.
 */
export async function runPipeline(steps: readonly PipelineStep[], o: PipelineOptions = {}): Promise<StepTiming[]> {
  const log = o.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const out: StepTiming[] = [];
  for (const s of steps) {
    if (stepFinished(s) && !o.force) {
      log(`---=== Step ${s.number} (${s.title}) finished before: ${s.outputDir} (rerun it with --force) ===---`);
      out.push({ step: s.number, seconds: 0, status: 'skipped' });
      continue;
    }
    let flags = '';
    let status: StepTiming['status'] = 'ran';
    if (o.force && fs.existsSync(s.outputDir)) {
      log(`--force: removing the previous output of step ${s.number} (${s.outputDir})`);
      fs.rmSync(s.outputDir, { recursive: true, force: true });
    } else if (fs.existsSync(path.join(s.outputDir, CHECKPOINTS_DIR)) && listCheckpoints(s.outputDir).length > 0) {
      flags = '--resume_from_checkpoint latest';
      status = 'resumed';
      log(`Step ${s.number} was interrupted before: resuming from its latest checkpoint in ${path.join(s.outputDir, CHECKPOINTS_DIR)}`);
    } else if (fs.existsSync(s.outputDir) && fs.readdirSync(s.outputDir).some((f) => f !== 'training.log')) {
      // An unfinished step without a checkpoint: nothing to keep but its log.
      flags = '--overwrite_output_dir';
    }
    log(`---=== Running Step ${s.number} (${s.title}) ===---`);
    log(`Running:\nbash ${[s.script, ...s.args].join(' ')}${flags ? `   (RLHFKIT_STEP_FLAGS="${flags}")` : ''}`);
    const t0 = performance.now();
    const code = await runScript(s, flags, o.progress ?? null);
    const seconds = (performance.now() - t0) / 1000;
    const logFile = path.join(s.outputDir, 'training.log');
    if (code !== 0) throw new StepFailedError(s.number, logFile, code, tail(logFile, o.tailLines ?? 20));
    if (!fs.existsSync(path.join(s.outputDir, s.doneFile))) {
      throw new StepFailedError(s.number, logFile, code, `the step exited 0 but left no ${s.doneFile} in ${s.outputDir} (it stopped early?)\n${tail(logFile, o.tailLines ?? 20)}`);
    }
    fs.writeFileSync(path.join(s.outputDir, STEP_DONE_FILE), JSON.stringify({ step: s.number, seconds, finishedAt: new Date().toISOString() }) + '\n');
    log(`---=== Finished Step ${s.number} in ${hms(seconds)} ===---`);
    out.push({ step: s.number, seconds, status });
  }
  return out;
}

/** The step-time table (Step 1 | Step 2 | Step 3 | Total), as DeepSpeed-Chat's README reports it. */
export function timingTable(t: readonly StepTiming[]): string {
  const head = [...t.map((x) => `Step ${x.step}`), 'Total'];
  const total = t.reduce((a, x) => a + x.seconds, 0);
  const cells = [...t.map((x) => (x.status === 'skipped' ? 'done before' : `${hms(x.seconds)}${x.status === 'resumed' ? ' (resumed)' : ''}`)), hms(total)];
  const w = head.map((h, i) => Math.max(h.length, cells[i].length));
  const row = (xs: string[]): string => `| ${xs.map((x, i) => x.padEnd(w[i])).join(' | ')} |`;
  return [row(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, row(cells)].join('\n') + `\n(total ${formatDuration(total)})`;
}
