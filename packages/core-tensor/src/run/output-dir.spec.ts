// One run per output folder: the lock, dead runs' locks and temps taken over, no fresh run over a previous one, cleanup on every exit path.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tempPathFor, trackTemp } from '../io/temp-files';
import { deadPid, sleeper } from '../testing/processes';
import { claimOutputDir, OutputDirError, readRunLock, RUN_LOCK_FILE, withOutputDir, type RunLockInfo } from './output-dir';

function writeLock(dir: string, over: Partial<RunLockInfo>): void {
  const lock: RunLockInfo = { pid: 1, host: os.hostname(), startedAt: '2024-01-01T00:00:00.000Z', command: 'rlhfkit sft train', procStart: null, token: 'x', ...over };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, RUN_LOCK_FILE), JSON.stringify(lock));
}

describe('claimOutputDir', () => {
  let root: string;
  let lines: string[];
  const log = (l: string): void => void lines.push(l);
  const children: ChildProcess[] = [];
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-outdir-'));
    lines = [];
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

  test('creates the folder and a lock naming this process; release removes the lock, and the folder can be claimed again', () => {
    const dir = path.join(root, 'a', 'b');
    const claim = claimOutputDir(dir, { log });
    const lock = readRunLock(dir)!;
    expect(lock).toMatchObject({ pid: process.pid, host: os.hostname() });
    expect(new Date(lock.startedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(() => claim.check()).not.toThrow();
    claim.release();
    claim.release();
    expect(fs.existsSync(path.join(dir, RUN_LOCK_FILE))).toBe(false);
    expect(() => claim.check()).toThrow(OutputDirError);
    claimOutputDir(dir, { log }).release();
    expect(lines).toEqual([]);
  });

  test('a second claim while one is held fails at once, naming the holder', () => {
    const dir = path.join(root, 'out');
    const claim = claimOutputDir(dir, { log });
    expect(() => claimOutputDir(dir, { log })).toThrow(/already held by this process/);
    claim.release();
    const live = sleeper();
    children.push(live);
    writeLock(dir, { pid: live.pid, command: 'rlhfkit sft train --output_dir out' });
    expect(() => claimOutputDir(dir, { log })).toThrow(
      new RegExp(`is in use by another rlhfkit run: pid ${live.pid} on ${os.hostname()}, started 2024-01-01T00:00:00.000Z \\(rlhfkit sft train --output_dir out\\)`),
    );
    expect(readRunLock(dir)?.pid).toBe(live.pid);
    live.kill('SIGKILL');
  });

  test("a dead run's lock is taken over with a printed line; so is a lock whose pid now belongs to a later process", () => {
    const dir = path.join(root, 'out');
    const dead = deadPid();
    writeLock(dir, { pid: dead });
    claimOutputDir(dir, { log }).release();
    expect(lines).toEqual([expect.stringMatching(new RegExp(`took over the lock of a run that is gone \\(pid ${dead} on `))]);
    // pid reuse: the pid is alive, but its process started at another time than the lock says.
    if (fs.existsSync('/proc/self/stat')) {
      writeLock(dir, { pid: process.ppid, procStart: '1' });
      claimOutputDir(dir, { log }).release();
      expect(lines[1]).toMatch(new RegExp(`took over the lock .*pid ${process.ppid}`));
    }
  });

  test('a fresh run into a folder holding a previous run refuses, unless it resumes or overwrites', () => {
    const dir = path.join(root, 'out');
    fs.mkdirSync(path.join(dir, 'checkpoints', 'checkpoint-90'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'checkpoints', 'checkpoint-100'));
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), '{"step":1}\n');
    fs.writeFileSync(path.join(dir, 'model.safetensors'), 'old model');
    expect(() => claimOutputDir(dir, { log })).toThrow(
      /holds a previous run \(checkpoints\/ \(checkpoint-90, checkpoint-100\), metrics\.jsonl, model\.safetensors\); a new run would mix with it\. Pass --resume_from_checkpoint latest to continue it, --overwrite_output_dir to replace it/,
    );
    expect(fs.existsSync(path.join(dir, RUN_LOCK_FILE))).toBe(false);
    claimOutputDir(dir, { log, resume: 'latest' }).release();
    expect(fs.existsSync(path.join(dir, 'checkpoints', 'checkpoint-100'))).toBe(true);
    claimOutputDir(dir, { log, overwrite: true }).release();
    expect(fs.readdirSync(dir).sort()).toEqual(['model.safetensors']);
    expect(lines).toEqual([expect.stringMatching(/--overwrite_output_dir: deleted the previous run's checkpoints and metrics\.jsonl in .*; its model files stay/)]);
  });

  test('--output_dir naming a file, or a path through a file, is an error naming the flag', () => {
    const file = path.join(root, 'afile');
    fs.writeFileSync(file, 'x');
    expect(() => claimOutputDir(file, { log })).toThrow(/--output_dir .*afile is a file, not a folder; name a folder/);
    expect(() => claimOutputDir(path.join(file, 'sub'), { log })).toThrow(/--output_dir .*afile.sub: cannot create the folder \(a part of the path is a file\)/);
  });

  test("temps of dead runs are removed at the start, a live process's are left, and this run's go at release", () => {
    const dir = path.join(root, 'out');
    const dead = deadPid();
    const live = sleeper();
    children.push(live);
    fs.mkdirSync(path.join(dir, 'checkpoints', `.tmp-checkpoint-40-${dead}`), { recursive: true });
    fs.writeFileSync(path.join(dir, `model.safetensors.tmp-${dead}-1796552288374`), 'half a model');
    fs.writeFileSync(path.join(dir, `rlhfkit_config.json.tmp-${live.pid}-1`), '{');
    const claim = claimOutputDir(dir, { log });
    expect(lines[0]).toMatch(new RegExp(`removed 2 temp file\\(s\\) of runs that are gone: model\\.safetensors\\.tmp-${dead}-1796552288374, \\.tmp-checkpoint-40-${dead}`));
    expect(lines[1]).toMatch(new RegExp(`left rlhfkit_config\\.json\\.tmp-${live.pid}-1 \\(pid ${live.pid} is running\\)`));
    const mine = tempPathFor(path.join(dir, 'model.safetensors'));
    fs.writeFileSync(mine, 'in flight');
    trackTemp(mine);
    claim.release();
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoints', `rlhfkit_config.json.tmp-${live.pid}-1`]);
    live.kill('SIGKILL');
  });

  test('withOutputDir releases the folder when the run throws', async () => {
    const dir = path.join(root, 'out');
    await expect(withOutputDir(dir, { log }, async () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(fs.existsSync(path.join(dir, RUN_LOCK_FILE))).toBe(false);
  });

  // A real process: process.exit mid-run, and a SIGTERM nobody handles, each leave no lock and no temp file.
  for (const how of ['exit', 'SIGTERM'] as const) {
    test(`a run that ends by ${how} leaves neither its lock nor its temp files`, async () => {
      const dir = path.join(root, 'out');
      const script = path.join(root, 'child.ts');
      fs.writeFileSync(script, [
        `import { claimOutputDir } from ${JSON.stringify(path.join(__dirname, 'output-dir'))};`,
        `import { tempPathFor, trackTemp } from ${JSON.stringify(path.join(__dirname, '../io/temp-files'))};`,
        'import * as fs from "node:fs";',
        `claimOutputDir(${JSON.stringify(dir)}, { log: () => undefined });`,
        `const tmp = tempPathFor(${JSON.stringify(path.join(dir, 'model.safetensors'))});`,
        'fs.writeFileSync(tmp, "half"); trackTemp(tmp);',
        'process.stdout.write("ready\\n");',
        how === 'exit' ? 'process.exit(3);' : 'setTimeout(() => undefined, 60000);',
      ].join('\n'));
      const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), script], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      child.stdout!.on('data', (d: Buffer) => {
        if (how === 'SIGTERM' && d.toString().includes('ready')) child.kill('SIGTERM');
      });
      const end = await new Promise<number | string | null>((resolve) => child.on('exit', (c, s) => resolve(c ?? s)));
      expect(end).toBe(how === 'exit' ? 3 : 'SIGTERM');
      expect(fs.readdirSync(dir)).toEqual([]);
    }, 30_000);
  }
});
