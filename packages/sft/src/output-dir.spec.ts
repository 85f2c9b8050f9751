// An --output_dir belongs to one run, shown with real `rlhfkit sft train` processes: two at once, fresh over finished, kill -9 then resume.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listCheckpoints, RUN_LOCK_FILE } from '@rlhfkit/core-tensor';
import { makeTempDir, tinyOpt, useWasm, TEST_DEMO } from './testing';

const BIN = path.resolve(__dirname, '../../../apps/rlhfkit/bin/rlhfkit.js');

interface Run {
  child: ChildProcess;
  err: () => string;
  done: Promise<number | string | null>;
}

function start(args: string[], onErr?: (all: string, child: ChildProcess) => void): Run {
  const child = spawn(process.execPath, [BIN, 'sft', 'train', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    onErr?.(err, child);
  });
  const done = new Promise<number | string | null>((resolve) => child.on('exit', (c, s) => resolve(c ?? s)));
  return { child, err: () => err, done };
}

/** The rlhfkit lines (not the backend banner): what a user reads. */
function messages(err: string): string[] {
  return err.split('\n').filter((l) => l.startsWith('rlhfkit: ') && !l.startsWith('rlhfkit: backend '));
}

function metricSteps(dir: string): number[] {
  return fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
}

describe('one run per --output_dir (spawned rlhfkit processes)', () => {
  let root: string;
  let common: string[];
  const live: ChildProcess[] = [];
  beforeAll(async () => {
    await useWasm();
    root = makeTempDir();
    const model = await tinyOpt(root);
    common = [
      '--model_name_or_path', model, '--data_path', TEST_DEMO, '--data_output_path', path.join(root, 'data'), '--max_seq_len', '32',
      '--per_device_eval_batch_size', '80', '--backend', 'wasm',
    ];
  });
  afterAll(() => {
    live.forEach((c) => c.kill('SIGKILL'));
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('a fresh run into a finished run\'s folder refuses and changes nothing; --overwrite_output_dir starts clean', async () => {
    const out = path.join(root, 'finished');
    const first = start([...common, '--output_dir', out, '--per_device_train_batch_size', '16', '--save_steps', '20']);
    expect(await first.done).toBe(0);
    const before = { steps: metricSteps(out), checkpoints: listCheckpoints(out).map((c) => c.step), model: fs.statSync(path.join(out, 'model.safetensors')).mtimeMs };
    expect(before.checkpoints).toEqual([40, 50]);

    const again = start([...common, '--output_dir', out, '--per_device_train_batch_size', '32', '--save_steps', '10']);
    expect(await again.done).toBe(1);
    expect(messages(again.err())).toEqual([
      expect.stringMatching(/holds a previous run \(checkpoints\/ \(checkpoint-40, checkpoint-50\), metrics\.jsonl, rlhfkit_config\.json, config\.json, model\.safetensors\).*Pass --resume_from_checkpoint latest to continue it, --overwrite_output_dir to replace it/),
    ]);
    expect(metricSteps(out)).toEqual(before.steps);
    expect(listCheckpoints(out).map((c) => c.step)).toEqual(before.checkpoints);
    expect(fs.statSync(path.join(out, 'model.safetensors')).mtimeMs).toBe(before.model);

    const over = start([...common, '--output_dir', out, '--per_device_train_batch_size', '32', '--save_steps', '10', '--overwrite_output_dir']);
    expect(await over.done).toBe(0);
    expect(messages(over.err())[0]).toMatch(/--overwrite_output_dir: deleted the previous run's checkpoints and metrics\.jsonl/);
    // Only the new run's 25 steps (eval lines at 0 and 25), and only its checkpoints: none pruned in favour of the old 40/50.
    const steps = metricSteps(out);
    expect(steps[0]).toBe(0);
    expect(Math.max(...steps)).toBe(25);
    expect(steps.filter((s) => s > 0)).toEqual([...steps.filter((s) => s > 0)].sort((a, b) => a - b));
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([20, 25]);
    expect(fs.existsSync(path.join(out, RUN_LOCK_FILE))).toBe(false);
  }, 120_000);

  test("killed with kill -9: the next run takes the dead run's lock over, a fresh one still refuses, and a resume removes the temp files and continues from that run's checkpoint", async () => {
    const out = path.join(root, 'killed');
    let killed = false;
    const run = start([...common, '--output_dir', out, '--per_device_train_batch_size', '8', '--save_steps', '10'], (err, child) => {
      if (!killed && /saved checkpoint .*checkpoint-30\n/.test(err)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    live.push(run.child);
    expect(await run.done).toBe('SIGKILL');
    const pid = run.child.pid!;
    expect(fs.existsSync(path.join(out, RUN_LOCK_FILE))).toBe(true);
    const saved = Math.max(...listCheckpoints(out).map((c) => c.step));
    expect(saved).toBeGreaterThanOrEqual(30);
    // What a kill during the final save leaves: a whole model under a temp name.
    const leftover = path.join(out, `model.safetensors.tmp-${pid}-1796552288374`);
    fs.writeFileSync(leftover, 'half a model');

    const fresh = start([...common, '--output_dir', out, '--per_device_train_batch_size', '8', '--save_steps', '10']);
    expect(await fresh.done).toBe(1);
    expect(messages(fresh.err())).toEqual([
      expect.stringMatching(new RegExp(`took over the lock of a run that is gone \\(pid ${pid} on `)),
      expect.stringMatching(/holds a previous run \(checkpoints\/ .*metrics\.jsonl, rlhfkit_config\.json\)/),
    ]);

    const resumed = start([...common, '--output_dir', out, '--per_device_train_batch_size', '8', '--save_steps', '10', '--resume_from_checkpoint', 'latest']);
    expect(await resumed.done).toBe(0);
    const err = resumed.err();
    expect(err).toMatch(new RegExp(`removed 1 temp file\\(s\\) of runs that are gone: model\\.safetensors\\.tmp-${pid}-1796552288374`));
    expect(err).toMatch(new RegExp(`resumed from .*checkpoint-${saved} at step ${saved}`));
    expect(fs.existsSync(leftover)).toBe(false);
    expect(Math.max(...metricSteps(out))).toBe(100);
    expect(fs.readdirSync(out).filter((f) => f.includes('.tmp-') || f === RUN_LOCK_FILE)).toEqual([]);
  }, 120_000);

  test('two runs started at once into one folder: one trains, the other refuses at once naming it; nothing is interleaved', async () => {
    const out = path.join(root, 'shared');
    const args = [...common, '--output_dir', out, '--per_device_train_batch_size', '4', '--save_steps', '5', '--save_total_limit', '1', '--num_train_epochs', '50'];
    const a = start(args);
    const b = start(args);
    live.push(a.child, b.child);
    const first = await Promise.race([a.done.then(() => a), b.done.then(() => b)]);
    const winner = first === a ? b : a;
    expect(await first.done).toBe(1);
    expect(messages(first.err())).toEqual([
      expect.stringMatching(new RegExp(`--output_dir .*shared is in use by another rlhfkit run: pid ${winner.child.pid} on .*, started .*sft train`)),
    ]);
    // The winner trains on; Ctrl-C stops it with a checkpoint, and it leaves neither lock nor temp files.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (/saved checkpoint/.test(winner.err())) {
          clearInterval(poll);
          resolve();
        }
      }, 50);
    });
    winner.child.kill('SIGINT');
    expect(await winner.done).toBe(130);
    const steps = metricSteps(out).filter((s) => s > 0);
    expect(new Set(steps).size).toBe(steps.length);
    expect(listCheckpoints(out)).toHaveLength(1);
    expect(fs.readdirSync(out).filter((f) => f.includes('.tmp-') || f === RUN_LOCK_FILE)).toEqual([]);
    expect(fs.readdirSync(path.join(out, 'checkpoints')).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  }, 120_000);
});
