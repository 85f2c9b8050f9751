// Spec fixture: a tiny OPT trained by TrainingLoop on batches built so that 2 ranks x 1 micro-batch see what 1 rank x 2 micro-batches sees.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createModelFromConfig } from '../../models/load';
import { causalLmLoss } from '../../models/loss';
import { Rng } from '../../rng';
import { loadWeightsInto } from '../../run/model-setup';
import { TrainingLoop } from '../../run/training-loop';
import type { ResumableSampler, TrainingTask } from '../../run/training-task';
import { AdamW } from '../../train/adamw';
import { LrScheduler } from '../../train/lr-schedule';
import { getOptimizerGroupedParameters } from '../../train/param-groups';
import type { Communicator } from '../communicator';

/** No dropout, so the same rows give the same gradients in any grouping. */
export const DP_RAW = {
  model_type: 'opt', vocab_size: 64, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, ffn_dim: 32,
  max_position_embeddings: 32, word_embed_proj_dim: 16, do_layer_norm_before: true, dropout: 0, attention_dropout: 0,
  activation_function: 'relu', enable_bias: true, tie_word_embeddings: true, bos_token_id: 2, eos_token_id: 2, pad_token_id: 1,
};

/** Equal-length rows: every micro-batch has the same token count, so mean-of-means equals the mean over tokens. */
export const DP_ROWS: number[][] = (() => {
  const r = new Rng(7);
  return Array.from({ length: 16 }, () => Array.from({ length: 10 }, () => r.int(3, 64)));
})();

/** Rank r's k-th batch: rows 4k + 2r and 4k + 2r + 1. */
export function rankBatch(rank: number, k: number): number[] {
  return [4 * k + 2 * rank, 4 * k + 2 * rank + 1];
}

/** A fixed list of batches as a sampler; its state carries rank/worldSize as data's BatchSampler does. */
export class ListSampler implements ResumableSampler {
  constructor(private readonly batches: number[][], private readonly rank: number, private readonly worldSize: number, private step = 0) {}
  get batchesPerEpoch(): number {
    return this.batches.length;
  }
  get epochDone(): boolean {
    return this.step >= this.batches.length;
  }
  next(): { indices: number[]; epoch: number; step: number } {
    const s = this.step++;
    return { indices: this.batches[s], epoch: 0, step: s };
  }
  state(): { epoch: number; step: number; rank: number; worldSize: number } {
    return { epoch: 0, step: this.step, rank: this.rank, worldSize: this.worldSize };
  }
}

export interface DpRunOptions {
  comm: Communicator;
  /** Batches this process trains on, in order. */
  batches: number[][];
  gas: number;
  zeroStage?: number;
  outputDir: string;
  stopAfterSteps?: number;
  resume?: boolean;
}

export interface DpRunResult {
  losses: number[];
  gradNorms: number[];
  /** Parameter checksum after training (sum of |w|), to compare the final weights. */
  weightSum: number;
  /** Bytes of optimizer state this rank holds (AdamW moments; ZeRO: its slice plus the float32 slice it updates). */
  optimizerBytes: number;
}

/** Trains the fixture model with TrainingLoop (AdamW 0.9/0.95, weight decay on matrices, cosine, clip 1.0). */
export async function runDpFixture(o: DpRunOptions): Promise<DpRunResult> {
  const model = createModelFromConfig(DP_RAW, { seed: 3 });
  const vars = model.trainableParameters();
  const optimizer = new AdamW(getOptimizerGroupedParameters([...vars.keys()], 0.1), vars, { lr: 1e-2, betas: [0.9, 0.95] });
  const totalSteps = Math.ceil(o.batches.length / o.gas);
  const scheduler = new LrScheduler(optimizer, 'cosine', { warmupSteps: 1, totalSteps });
  const task: TrainingTask<number[][]> = {
    variables: vars,
    optimizer,
    scheduler,
    sampler: new ListSampler(o.batches, o.comm.rank, o.comm.size),
    restoreSampler: (s) => new ListSampler(o.batches, (s as { rank: number }).rank, o.comm.size, (s as { step: number }).step),
    makeBatch: (idx) => idx.map((i) => DP_ROWS[i]),
    loss: (rows) => {
      const ids = tf.tensor2d(rows, undefined, 'int32');
      return causalLmLoss(model.forward({ inputIds: ids }), ids);
    },
    tokens: (rows) => rows.length * rows[0].length,
    setTraining: (t) => model.train(t),
    saveModel: (dir) => model.save(dir),
    loadModel: async (dir) => loadWeightsInto(model, dir),
  };
  const losses: number[] = [];
  const gradNorms: number[] = [];
  let optimizerBytes = 0;
  const loop = new TrainingLoop(task, {
    outputDir: o.outputDir, stepName: 'dp-fixture', config: { zeroStage: o.zeroStage ?? 0 }, numEpochs: 1, gradientAccumulationSteps: o.gas,
    saveSteps: 0, evalAtStart: false, handleSignals: false, log: () => undefined, progressStream: { write: () => true }, communicator: o.comm,
    stopAfterSteps: o.stopAfterSteps, resumeFromCheckpoint: o.resume ? 'latest' : null, overwriteOutputDir: !o.resume,
    onStep: (i) => {
      losses.push(i.loss);
      gradNorms.push(i.gradNorm);
    },
  });
  const result = await loop.run();
  optimizerBytes = result.dataParallel?.memory.optimizer ?? 0;
  const weightSum = tf.tidy(() => [...vars.values()].reduce((a, v) => a + tf.sum(tf.abs(v)).dataSync()[0], 0));
  model.dispose();
  optimizer.dispose();
  return { losses, gradNorms, weightSum, optimizerBytes };
}

/** A fresh temp folder (the caller removes it). */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
