// RewardTrainer end to end on a tiny OPT and a small demo dataset: eval, no leaks, save/reload, resume, LoRA, CLI scores.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import yargs from 'yargs';
import { createTinyModel, readEventFile, readMetrics } from '@rlhfkit/core-tensor';
import { ensureDemoDataset } from '@rlhfkit/data';
import { useBackend } from '../../core-tensor/src/testing/backends';
import { rewardEvalCommand, rewardTrainCommand, rewardConfigFromArgs } from './cli';
import type { RewardConfig } from './config';
import { loadRewardModel } from './load';
import { RewardTrainer } from './trainer';
import { tempDir } from './testing';

jest.setTimeout(120000);

describe('RewardTrainer on a tiny OPT', () => {
  useBackend('wasm');
  let root: string;
  let modelDir: string;
  let dataPath: string;
  const quiet = (): void => undefined;
  const silent = { write: (): boolean => true };

  beforeAll(async () => {
    root = tempDir('trainer');
    modelDir = path.join(root, 'tiny-opt');
    // The demo adapter is chosen by the path, so the copy lives under .../rlhfkit/demo.
    dataPath = await ensureDemoDataset(path.join(root, 'rlhfkit', 'demo'), { trainPairs: 100, testPairs: 40 });
    await createTinyModel(modelDir, { arch: 'opt', hiddenSize: 32, layers: 1, heads: 2, merges: 1000, dropout: 0, maxPositions: 128 });
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  function config(over: Partial<RewardConfig>): Partial<RewardConfig> & { modelNameOrPath: string } {
    return {
      modelNameOrPath: modelDir,
      dataPath: [dataPath],
      dataOutputPath: '',
      maxSeqLen: 64,
      perDeviceTrainBatchSize: 8,
      perDeviceEvalBatchSize: 8,
      learningRate: 1e-3,
      weightDecay: 0.1,
      dropout: 0,
      ...over,
    };
  }

  test('trains with evaluations, leaks no tensors, and saves a folder that reloads with no options', async () => {
    const out = path.join(root, 'run-a');
    const counts: number[] = [];
    const lines: string[] = [];
    const trainer = await RewardTrainer.create(
      config({ outputDir: out, evalInterval: 2, enableTensorboard: true, tensorboardPath: path.join(root, 'tb') }),
      { log: (l) => lines.push(l), handleSignals: false, progressStream: silent, onStep: () => counts.push(tf.memory().numTensors) },
    );
    expect(trainer.model.padTokenId).toBe(trainer.tok.tokenizer.eosTokenId);
    // The GPT-2 BPE adds no BOS, so no row starts with a pad id: nothing to skip.
    expect(trainer.model.numPaddingAtBeginning).toBe(0);
    const r = await trainer.train();
    expect(r.status).toBe('completed');
    // DeepSpeed-Chat's printed lines: `Iter N: ...` for --eval_interval evaluations, chosen_last_scores for the others.
    expect(lines.filter((l) => /^Iter \d+: Evaluating reward$/.test(l))).toEqual(['Iter 2: Evaluating reward', 'Iter 4: Evaluating reward']);
    expect(lines.filter((l) => /^Iter \d+: c_scores: \S+, r_scores: \S+, diff: \S+, acc: \S+$/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('chosen_last_scores (higher is better) : '))).toHaveLength(2);
    expect(r.globalStep).toBe(5); // 40% of 100 pairs = 40 pairs / 8
    // AdamW's moments appear at step 1; afterwards the count stays flat (evaluations included).
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(r.rewardEvals.map((e) => e.step)).toEqual([0, 2, 4, 5]);
    for (const e of r.rewardEvals) expect(e.result.pairs).toBe(16);
    const metrics = readMetrics(path.join(out, 'metrics.jsonl'));
    expect(metrics.filter((m) => m['eval/acc'] !== undefined).map((m) => m.step)).toEqual([0, 2, 4, 5]);
    expect(metrics.filter((m) => m['train/loss'] !== undefined)).toHaveLength(5);
    // DeepSpeed-Chat's TensorBoard layout: <tensorboard_path>/step2_model_tensorboard; the --eval_interval evaluations reach it too.
    const tbDir = path.join(root, 'tb', 'step2_model_tensorboard');
    const tbFiles = fs.readdirSync(tbDir).filter((f) => f.startsWith('events.out.tfevents'));
    expect(tbFiles).toHaveLength(1);
    const tbEvals = readEventFile(path.join(tbDir, tbFiles[0])).filter((e) => e.values.some((v) => v.tag === 'eval/acc'));
    expect(tbEvals.map((e) => e.step)).toEqual([0, 2, 4, 5]);

    const back = await loadRewardModel(out);
    expect([back.padTokenId, back.numPaddingAtBeginning]).toEqual([trainer.model.padTokenId, 0]);
    back.eval();
    trainer.model.eval();
    const ids = trainer.evalItems.slice(0, 2);
    const batch = [ids[0].chosenIds, ids[1].chosenIds, ids[0].rejectedIds, ids[1].rejectedIds];
    const width = Math.max(...batch.map((b) => b.length));
    const padded = batch.map((b) => [...b, ...new Array<number>(width - b.length).fill(back.padTokenId)]);
    const mine = trainer.model.forward({ inputIds: padded });
    const theirs = back.forward({ inputIds: padded });
    expect(theirs.chosenMeanScores).toEqual(mine.chosenMeanScores);
    expect(theirs.loss).toBe(mine.loss);

    // rw_eval prints the trained head's scores: exactly what the trainer's model gives for the same pair.
    const pair = { prompt: '\n\nHuman: Say something nice.\n\nAssistant:', chosen: ' What a wonderful, happy day.', rejected: ' This is a terrible, awful mess.' };
    const printed: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      printed.push(String(s));
      return true;
    });
    try {
      await yargs()
        .command(rewardEvalCommand)
        .parseAsync(['eval', '--model_name_or_path', out, '--prompt', pair.prompt, '--chosen', pair.chosen, '--rejected', pair.rejected, '--json', '--backend', 'wasm']);
    } finally {
      write.mockRestore();
    }
    const row = JSON.parse(printed.join('').trim()) as { chosen_score: number; rejected_score: number };
    const tok = trainer.tok.tokenizer;
    const eot = '<|endoftext|>';
    const enc = await tok.encodeBatch([pair.prompt + pair.chosen + eot, pair.prompt + pair.rejected + eot], { padding: 'longest' });
    const ref = trainer.model.forward({ inputIds: enc.inputIds, attentionMask: enc.attentionMask });
    expect(row.chosen_score).toBe(ref.chosenMeanScores[0]);
    expect(row.rejected_score).toBe(ref.rejectedMeanScores[0]);
    back.dispose();
    trainer.dispose();
  });

  test('an interrupted run resumed from its checkpoint ends where an uninterrupted one does', async () => {
    const full = await RewardTrainer.create(config({ outputDir: path.join(root, 'full') }), { log: quiet, handleSignals: false, progressStream: silent });
    await full.train();
    const want = full.model.vHead.dataSync().slice();
    full.dispose();

    const out = path.join(root, 'resumed');
    const first = await RewardTrainer.create(config({ outputDir: out }), { log: quiet, handleSignals: false, progressStream: silent, stopAfterSteps: 2 });
    const r1 = await first.train();
    expect([r1.status, r1.globalStep]).toEqual(['interrupted', 2]);
    first.dispose();
    const second = await RewardTrainer.create(config({ outputDir: out, resumeFromCheckpoint: 'latest' }), { log: quiet, handleSignals: false, progressStream: silent });
    const r2 = await second.train();
    expect([r2.status, r2.globalStep, r2.resumedFrom]).toEqual(['completed', 5, path.join(out, 'checkpoints', 'checkpoint-2')]);
    const got = second.model.vHead.dataSync();
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    expect(maxDiff).toBeLessThan(1e-6);
    second.dispose();
  });

  test('LoRA with --only_optimize_lora trains LoRA and v_head only; the saved folder is fused', async () => {
    const out = path.join(root, 'lora');
    const trainer = await RewardTrainer.create(config({ outputDir: out, loraDim: 4, onlyOptimizeLora: true }), { log: quiet, handleSignals: false, progressStream: silent, stopAfterSteps: 3 });
    const trainable = [...trainer.model.trainableParameters().keys()];
    expect(trainable).toContain('v_head.weight');
    expect(trainable.filter((n) => !n.includes('lora_') && n !== 'v_head.weight')).toEqual([]);
    const q = 'model.decoder.layers.0.self_attn.q_proj.weight';
    const qBefore = trainer.model.namedParameters().get(q)!.dataSync().slice();
    await trainer.train();
    expect(Array.from(trainer.model.namedParameters().get(q)!.dataSync())).toEqual(Array.from(qBefore));
    const ckpt = path.join(out, 'checkpoints', 'checkpoint-3');
    expect(fs.existsSync(path.join(ckpt, 'lora_resume.safetensors'))).toBe(true);
    // The checkpoint folder is a fused reward model: loaded plainly, it scores like the live LoRA model.
    const fused = await loadRewardModel(ckpt);
    fused.eval();
    trainer.model.eval();
    const it = trainer.evalItems[0];
    const width = Math.max(it.chosenIds.length, it.rejectedIds.length);
    const pad = (r: number[]): number[] => [...r, ...new Array<number>(width - r.length).fill(fused.padTokenId)];
    const a = trainer.model.forward({ inputIds: [pad(it.chosenIds), pad(it.rejectedIds)] });
    const b = fused.forward({ inputIds: [pad(it.chosenIds), pad(it.rejectedIds)] });
    expect(Math.abs(a.chosenMeanScores[0] - b.chosenMeanScores[0])).toBeLessThan(1e-5);
    fused.dispose();
    trainer.dispose();
    // And the LoRA run resumes from it.
    const resumed = await RewardTrainer.create(config({ outputDir: out, loraDim: 4, onlyOptimizeLora: true, resumeFromCheckpoint: ckpt }), { log: quiet, handleSignals: false, progressStream: silent });
    const r = await resumed.train();
    expect([r.status, r.globalStep]).toEqual(['completed', 5]);
    resumed.dispose();
  });

  test('gradient checkpointing gives the same losses', async () => {
    const losses = async (gc: boolean): Promise<number[]> => {
      const t = await RewardTrainer.create(config({ gradientCheckpointing: gc }), { log: quiet, handleSignals: false, progressStream: silent, stopAfterSteps: 2 });
      const r = await t.train();
      t.dispose();
      return [...r.losses.values()];
    };
    const plain = await losses(false);
    const ckpt = await losses(true);
    expect(ckpt).toHaveLength(2);
    ckpt.forEach((l, i) => expect(Math.abs(l - plain[i])).toBeLessThan(1e-5));
  });
});

describe('rlhfkit reward train flags', () => {
  test("DeepSpeed-Chat's step-2 flags parse into a RewardConfig", async () => {
    let seen: Record<string, unknown> = {};
    await yargs()
      .command({ ...rewardTrainCommand, handler: (a) => void (seen = a as Record<string, unknown>) })
      .parseAsync([
        'train', '--data_path', 'Dahoas/rm-static', 'Dahoas/full-hh-rlhf', '--data_split', '2,4,4', '--model_name_or_path', 'facebook/opt-350m',
        '--num_padding_at_beginning', '1', '--per_device_train_batch_size', '4', '--max_seq_len', '512', '--weight_decay', '0.1',
        '--dropout', '0.0', '--gradient_accumulation_steps', '4', '--zero_stage', '0', '--deepspeed', '--eval_interval', '10', '--output_dir', '/tmp/x',
      ]);
    const c = rewardConfigFromArgs(seen);
    expect(c).toMatchObject({
      dataPath: ['Dahoas/rm-static', 'Dahoas/full-hh-rlhf'], modelNameOrPath: 'facebook/opt-350m', numPaddingAtBeginning: 1,
      perDeviceTrainBatchSize: 4, perDeviceEvalBatchSize: 16, learningRate: 5e-5, weightDecay: 0.1, dropout: 0, gradientAccumulationSteps: 4,
      evalInterval: 10, evalIters: 100, lrSchedulerType: 'cosine', tensorboardPath: 'step2_tensorboard', outputDir: '/tmp/x', initValueHead: 'linear',
    });
    const d = rewardConfigFromArgs({ ...seen, num_padding_at_beginning: undefined });
    expect(d.numPaddingAtBeginning).toBeNull();
  });
});
