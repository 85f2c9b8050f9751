// DpoTrainer on the demo data with a tiny OPT: loss falls, implicit-reward accuracy rises, the reference stays put, the HF save reloads, no leaks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadPretrained, loadTokenizer, readMetrics, readSafetensorsHeader } from '@rlhfkit/core-tensor';
import { fastConfig, makeTempDir, QUIET, tinyOpt, useWasm } from './testing';
import { DpoTrainer, type DpoResult } from './trainer';

describe('DpoTrainer', () => {
  let root: string;
  let model: string;
  let cache: string;
  beforeAll(async () => {
    await useWasm();
    root = makeTempDir();
    model = await tinyOpt(root);
    cache = path.join(root, 'data');
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  describe('one epoch on the demo data (800 pairs, 50 steps)', () => {
    let trainer: DpoTrainer;
    let result: DpoResult;
    let referenceBefore: Float32Array[];
    const counts: number[] = [];
    const out = (): string => path.join(root, 'run');
    beforeAll(async () => {
      trainer = await DpoTrainer.create(fastConfig(model, out(), cache, { dataSplit: '8,2,0', learningRate: 1e-2 }), { ...QUIET, onStep: () => counts.push(tf.memory().numTensors) });
      referenceBefore = [...trainer.reference.namedParameters().values()].map((v) => Float32Array.from(v.dataSync()));
      result = await trainer.train();
    });
    afterAll(() => trainer.dispose());

    test("uses DeepSpeed-Chat's DPO set-up: phase-2 pairs, pad = eos, frozen reference in eval mode, AdamW betas (0.9, 0.95)", () => {
      expect(trainer.datasets.train.length).toBe(800);
      expect(trainer.datasets.eval.length).toBe(80);
      expect(trainer.tokenizer.padTokenId).toBe(trainer.tokenizer.eosTokenId);
      expect(trainer.reference.training).toBe(false);
      expect([...trainer.reference.namedParameters().values()].every((v) => !v.trainable)).toBe(true);
      expect(trainer.optimizer.groups.map((g) => g.betas)).toEqual([[0.9, 0.95], [0.9, 0.95]]);
      expect(result.totalSteps).toBe(50);
      expect(result.status).toBe('completed');
    });

    test('the loss starts at ln 2 (policy = reference) and falls; the implicit-reward accuracy rises from 0 (all ties)', () => {
      const losses = [...result.losses.values()];
      expect(losses[0]).toBeCloseTo(Math.LN2, 5);
      const tail = losses.slice(-5).reduce((a, b) => a + b) / 5;
      expect(tail).toBeLessThan(Math.LN2 - 0.05);
      const [before, after] = result.dpoEvals;
      expect(before.kind).toBe('start');
      expect(before.result.acc).toBe(0);
      expect(before.result.loss).toBeCloseTo(Math.LN2, 5);
      expect(after.kind).toBe('epoch');
      expect(after.result.acc).toBeGreaterThan(0.6);
      expect(after.result.chosenReward).toBeGreaterThan(after.result.rejectedReward);
      expect(after.result.loss).toBeLessThan(before.result.loss);
      process.stdout.write(`dpo tiny demo: train loss ${losses[0].toFixed(4)} -> ${tail.toFixed(4)}; eval acc ${before.result.acc} -> ${after.result.acc}, eval loss ${before.result.loss.toFixed(4)} -> ${after.result.loss.toFixed(4)}\n`);
    });

    test('metrics.jsonl has grouped names: train/loss per step, eval/acc and eval/chosen_reward per evaluation', () => {
      const records = readMetrics(path.join(out(), 'metrics.jsonl'));
      expect(records.filter((r) => r['train/loss'] !== undefined)).toHaveLength(50);
      const evals = records.filter((r) => r['eval/acc'] !== undefined);
      expect(evals.map((r) => r.step)).toEqual([0, 50]);
      for (const k of ['eval/loss', 'eval/chosen_reward', 'eval/rejected_reward', 'eval/reward_margin', 'eval/logp_acc']) expect(evals[1][k]).toEqual(expect.any(Number));
    });

    test('the reference never moves, and tf.memory().numTensors is flat across the training steps', () => {
      [...trainer.reference.namedParameters().values()].forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(Array.from(referenceBefore[i])));
      expect(counts).toHaveLength(50);
      expect(new Set(counts).size).toBe(1);
    });

    test('the saved HF folder reloads with the trained policy\'s logits and records the DPO config', async () => {
      const files = fs.readdirSync(out());
      for (const f of ['config.json', 'model.safetensors', 'generation_config.json', 'tokenizer.json', 'rlhfkit_config.json']) expect(files).toContain(f);
      expect([...readSafetensorsHeader(path.join(out(), 'model.safetensors')).keys()].some((k) => k.includes('lora'))).toBe(false);
      const run = JSON.parse(fs.readFileSync(path.join(out(), 'rlhfkit_config.json'), 'utf8'));
      expect(run.step).toBe('dpo');
      expect(run.config.beta).toBe(0.1);
      expect(run.config.modelNameOrPath).toBe(model);
      const reloaded = await loadPretrained(out());
      const ids = [await (await loadTokenizer(out())).encode('Human: Say something. Assistant: The sea')];
      trainer.policy.eval();
      const [a, b] = [trainer.policy.forward({ inputIds: ids }), reloaded.forward({ inputIds: ids })];
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([a, b]);
      reloaded.dispose();
    });
  });

  test('a reference with another vocabulary is refused, naming both models', async () => {
    const other = path.join(root, 'other-vocab');
    const { createTinyModel } = await import('@rlhfkit/core-tensor');
    await createTinyModel(other, { arch: 'opt', hiddenSize: 32, layers: 1, heads: 2, merges: 500, maxPositions: 64, dropout: 0, seed: 2 });
    await expect(DpoTrainer.create(fastConfig(model, path.join(root, 'bad'), cache, { referenceModelNameOrPath: other }), QUIET)).rejects.toThrow(
      /the reference .*other-vocab has a 760-token vocabulary but the policy .*tiny-opt has 1264; DPO compares/,
    );
  });
});
