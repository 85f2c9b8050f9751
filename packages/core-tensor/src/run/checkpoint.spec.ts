// Run checkpoints on disk: atomic save, pruning, 'latest', stale temp folders, exact optimizer state round trip.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../testing/backends';
import { deadPid } from '../testing/processes';
import { writeSafetensors } from '../io/safetensors';
import { AdamW } from '../train/adamw';
import {
  listCheckpoints, loadOptimizerState, removeStaleTemps, resolveCheckpoint, saveOptimizerState, TRAINER_STATE_FORMAT, writeCheckpoint,
  type TrainerState,
} from './checkpoint';

function state(step: number): TrainerState {
  return { format: TRAINER_STATE_FORMAT, globalStep: step, totalSteps: 10, sampler: { epoch: 0 }, scheduler: { name: 'constant', step }, rng: {}, extra: {}, savedAt: '' };
}

describe('run checkpoints', () => {
  useBackend('cpu');
  let out: string;
  beforeEach(() => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-ckpt-'));
  });
  afterEach(() => fs.rmSync(out, { recursive: true, force: true }));

  test('keeps the newest N, lists them in step order, resolves latest', async () => {
    for (const step of [5, 10, 15, 20]) await writeCheckpoint(out, state(step), (d) => fs.writeFileSync(path.join(d, 'x'), String(step)), { keep: 3 });
    expect(listCheckpoints(out).map((c) => c.step)).toEqual([10, 15, 20]);
    expect(resolveCheckpoint('latest', out)).toBe(path.join(out, 'checkpoints', 'checkpoint-20'));
    expect(fs.readFileSync(path.join(out, 'checkpoints', 'checkpoint-20', 'x'), 'utf8')).toBe('20');
    // Saving the same step again replaces it whole.
    await writeCheckpoint(out, state(20), (d) => fs.writeFileSync(path.join(d, 'y'), 'again'), { keep: 3 });
    expect(fs.readdirSync(path.join(out, 'checkpoints', 'checkpoint-20')).sort()).toEqual(['trainer_state.json', 'y']);
  });

  test('a failing writer leaves no checkpoint and no temp folder', async () => {
    await writeCheckpoint(out, state(1), () => undefined, { keep: 0 });
    const err = await writeCheckpoint(out, state(2), () => {
      throw new Error('disk full');
    }, { keep: 0 }).catch((e: Error) => e);
    expect((err as Error).message).toBe('disk full');
    expect(fs.readdirSync(path.join(out, 'checkpoints'))).toEqual(['checkpoint-1']);
  });

  test('a folder killed mid-save is never taken for a checkpoint, and is cleaned up', () => {
    const dead = deadPid();
    const tmp = path.join(out, 'checkpoints', `.tmp-checkpoint-7-${dead}`);
    fs.mkdirSync(tmp, { recursive: true });
    fs.mkdirSync(path.join(out, 'checkpoints', 'checkpoint-9')); // no trainer_state.json: incomplete
    expect(listCheckpoints(out)).toEqual([]);
    expect(() => resolveCheckpoint('latest', out)).toThrow(/no complete checkpoint in .*checkpoints; start without --resume_from_checkpoint/);
    expect(removeStaleTemps(out)).toEqual([`.tmp-checkpoint-7-${dead}`]);
    expect(fs.existsSync(tmp)).toBe(false);
  });

  test("a live run's temp folder is left alone (another run saving into the same folder)", () => {
    const mine = path.join(out, 'checkpoints', `.tmp-checkpoint-7-${process.pid}`);
    fs.mkdirSync(mine, { recursive: true });
    expect(removeStaleTemps(out)).toEqual([]);
    expect(fs.existsSync(mine)).toBe(true);
  });

  test("'latest' skips damaged checkpoints, naming each, and falls back to the newest sound one", async () => {
    for (const step of [5, 10, 15]) {
      await writeCheckpoint(out, state(step), (d) => {
        fs.writeFileSync(path.join(d, 'optimizer.json'), '{"groups": [], "steps": {}}');
        writeSafetensors(path.join(d, 'model.safetensors'), new Map([['w', { dtype: 'F32', shape: [4], data: new Float32Array(4) }]]));
      }, { keep: 0 });
    }
    const ck = (s: number): string => path.join(out, 'checkpoints', `checkpoint-${s}`);
    fs.truncateSync(path.join(ck(15), 'model.safetensors'), 60);
    fs.writeFileSync(path.join(ck(10), 'optimizer.json'), '{"groups": [');
    const lines: string[] = [];
    expect(resolveCheckpoint('latest', out, { log: (l) => lines.push(l) })).toBe(ck(5));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/skipping damaged .*checkpoint-15 \(.*model\.safetensors.*truncated/);
    expect(lines[1]).toMatch(/skipping damaged .*checkpoint-10 \(.*optimizer\.json: cannot parse/);
    // An optimizer.json that parses but is not an optimizer state is damage too.
    fs.writeFileSync(path.join(ck(10), 'optimizer.json'), '{}');
    expect(resolveCheckpoint('latest', out, { log: () => undefined })).toBe(ck(5));
    // Named explicitly, a damaged checkpoint is an error naming the file.
    expect(() => resolveCheckpoint(ck(15), out)).toThrow(/checkpoint is damaged: .*checkpoint-15.model\.safetensors/);
    fs.writeFileSync(path.join(ck(5), 'trainer_state.json'), '{');
    expect(() => resolveCheckpoint('latest', out, { log: () => undefined })).toThrow(/every checkpoint in .* is damaged \(checkpoint-15, checkpoint-10, checkpoint-5\)/);
  });

  test('an optimizer.json without groups and steps is an error naming the file', () => {
    fs.writeFileSync(path.join(out, 'optimizer.json'), '{}\n');
    const a = new AdamW([{ params: [], weightDecay: 0 }], new Map(), { lr: 0.01 });
    expect(() => loadOptimizerState(out, a)).toThrow(/optimizer\.json: the optimizer state needs a 'groups' list and a 'steps' map, found \{\}; the checkpoint is damaged/);
  });

  test('resolveCheckpoint explains a wrong folder', async () => {
    expect(() => resolveCheckpoint(path.join(out, 'nope'), out)).toThrow(/no such folder/);
    await writeCheckpoint(out, state(3), () => undefined, { keep: 0 });
    expect(() => resolveCheckpoint(out, out)).toThrow(/has no trainer_state.json.*It looks like an output folder; use .*checkpoint-3/);
  });

  test('optimizer state survives save/load bit for bit (moments, per-parameter steps, group lr)', () => {
    const vars = new Map<string, tf.Variable>([
      ['w', tf.variable(tf.tensor2d([[1, 2], [3, 4]]))],
      ['b', tf.variable(tf.tensor1d([0.5, -0.5]))],
    ]);
    const a = new AdamW([{ params: ['w'], weightDecay: 0.1 }, { params: ['b'], weightDecay: 0 }], vars, { lr: 0.01, betas: [0.9, 0.95] });
    const g = new Map<string, tf.Tensor>([['w', tf.tensor2d([[0.1, -0.2], [0.3, 0.4]])], ['b', tf.tensor1d([1, 2])]]);
    a.step(g);
    a.step(new Map([['w', g.get('w')!]]));
    a.setLr(0.005, 1);
    saveOptimizerState(out, a);
    const b = new AdamW([{ params: ['w'], weightDecay: 0.1 }, { params: ['b'], weightDecay: 0 }], vars, { lr: 0.01, betas: [0.9, 0.95] });
    loadOptimizerState(out, b);
    const [sa, sb] = [a.stateDict(), b.stateDict()];
    expect(sb.groups).toEqual(sa.groups);
    expect(Object.keys(sb.state)).toEqual(['w', 'b']);
    for (const k of ['w', 'b']) {
      expect(sb.state[k].step).toBe(sa.state[k].step);
      expect(Array.from(sb.state[k].expAvg.data)).toEqual(Array.from(sa.state[k].expAvg.data));
      expect(Array.from(sb.state[k].expAvgSq.data)).toEqual(Array.from(sa.state[k].expAvgSq.data));
    }
    expect(sb.state.w.step).toBe(2);
    expect(sb.state.b.step).toBe(1);
    a.dispose();
    b.dispose();
    tf.dispose([...g.values(), ...vars.values()]);
  });
});
