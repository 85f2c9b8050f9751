// The roles in this heap: actor (+ EMA copy), reference, critic and reward over CausalLM / RewardModel.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  assignWeights, causalLmLoss, CheckpointError, findWeightsFile, gatherLogProbs, hasLora, loadLoraResume, loadStateDict, loadWeightsInto, saveFused,
  readJsonFile, saveLoraResume, withLoraFused, type CausalLM, type Rng, type RngState, type Tokenizer,
} from '@rlhfkit/core-tensor';
import { V_HEAD_KEY } from '@rlhfkit/reward';
import type { RewardModel } from '@rlhfkit/reward';
import { fromTensor, type FloatMatrix, type IntMatrix } from './matrix';
import { actorLossTensor, criticLossTensor, movingAverage } from './ppo-maths';
import type { RoleOptimizer } from './role-optimizer';
import type {
  ActorRole, CriticRole, LmBatch, LogProbRole, PolicyBatch, PolicyLossSettings, RewardRole, RoleMemory, RolloutSettings, UpdateResult, ValueBatch,
} from './roles';

/** Largest tensor memory seen in this heap at the points where roles sample it (activations alive). */
export class HeapMeter {
  peak = 0;

  sample(): void {
    const n = tf.memory().numBytes;
    if (n > this.peak) this.peak = n;
  }
}

/** The dropout RNG of a role's model, beside its checkpoint state. */
function writeRng(dir: string, rng: Rng): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'rng.json'), JSON.stringify({ dropout: rng.getState() }) + '\n');
}

function readRng(dir: string, rng: Rng): void {
  const s = readJsonFile<{ dropout: RngState }>(path.join(dir, 'rng.json'), { what: 'the dropout RNG state', hint: 'the checkpoint is damaged, resume from an older one' });
  rng.setState(s.dropout);
}

function ids(m: IntMatrix): tf.Tensor2D {
  return tf.tensor2d(m.data, m.shape, 'int32');
}

function floats(m: FloatMatrix): tf.Tensor2D {
  return tf.tensor2d(m.data, m.shape, 'float32');
}

function bytesOf(vars: Iterable<tf.Variable>): number {
  let n = 0;
  for (const v of vars) n += v.size * 4;
  return n;
}

/**
 * [B, L] ids and mask -> [B, L-1] log p(ids[t+1] | ids[..t]) as a tensor (differentiable). The LM head runs on the first
 * L-1 positions only, so the [B, L, vocab] logits of the last position are never made.
 */
export function sequenceLogProbs(model: CausalLM, inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, meter?: HeapMeter): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, l] = inputIds.shape;
    const hidden = model.forwardHidden({ inputIds, attentionMask }); // [b, l, d]
    const d = hidden.shape[2];
    const logits = model.lmHead(tf.slice(hidden, [0, 0, 0], [b, l - 1, d]) as tf.Tensor3D); // [b, l-1, vocab]
    meter?.sample();
    return gatherLogProbs(logits, tf.slice(inputIds, [0, 1], [b, l - 1]) as tf.Tensor2D); // [b, l-1]
  });
}

/** The frozen reference (DeepSpeed-Chat's ref engine): log-probs only, always in eval mode. */
export class LocalReference implements LogProbRole {
  readonly name = 'reference';

  constructor(readonly model: CausalLM, private readonly meter: HeapMeter) {
    model.setTrainable(false);
    model.eval();
  }

  async setTraining(): Promise<void> {
    // DeepSpeed-Chat never puts the reference in training mode.
  }

  async logProbs(inputIds: IntMatrix, attentionMask: IntMatrix): Promise<FloatMatrix> {
    return logProbsOf(this.model, inputIds, attentionMask, this.meter);
  }

  async memory(): Promise<RoleMemory> {
    return { parameters: bytesOf(this.model.namedParameters().values()) + this.model.bf16Bytes(), optimizer: 0, peakTensorBytes: this.meter.peak };
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}

function logProbsOf(model: CausalLM, inputIds: IntMatrix, attentionMask: IntMatrix, meter: HeapMeter): FloatMatrix {
  const t = tf.tidy(() => sequenceLogProbs(model, ids(inputIds), ids(attentionMask), meter));
  try {
    return fromTensor(t);
  } finally {
    t.dispose();
  }
}

export interface LocalActorOptions {
  model: CausalLM;
  optimizer: RoleOptimizer;
  /** Saved beside the model files (optional: without it the folders hold no tokenizer files). */
  tokenizer?: Tokenizer | null;
  /** DeepSpeed-Chat's actor_ema (same architecture and LoRA layers), or null. */
  ema: CausalLM | null;
  meter: HeapMeter;
}

/** The actor in this heap: generation with LoRA fused, log-probs, clipped-surrogate and LM updates, EMA. */
export class LocalActor implements ActorRole {
  readonly name = 'actor';
  readonly model: CausalLM;
  readonly optimizer: RoleOptimizer;
  readonly ema: CausalLM | null;
  private readonly tokenizer: Tokenizer | null;
  private readonly meter: HeapMeter;

  constructor(o: LocalActorOptions) {
    this.model = o.model;
    this.optimizer = o.optimizer;
    this.ema = o.ema;
    this.tokenizer = o.tokenizer ?? null;
    this.meter = o.meter;
    this.ema?.setTrainable(false);
    this.ema?.eval();
  }

  async setTraining(training: boolean): Promise<void> {
    this.model.train(training);
  }

  async generate(prompts: IntMatrix, promptMask: IntMatrix, s: RolloutSettings): Promise<IntMatrix> {
    const rows = (m: IntMatrix): number[][] => Array.from({ length: m.shape[0] }, (_, i) => Array.from(m.data.subarray(i * m.shape[1], (i + 1) * m.shape[1])));
    // Always in eval mode, as DeepSpeed-Chat generates (a generation started ahead, while the trainer scores, keeps it too).
    const wasTraining = this.model.training;
    this.model.train(false);
    const out = await withLoraFused(this.model, () =>
      this.model.generate(
        { inputIds: rows(prompts), attentionMask: rows(promptMask) },
        {
          maxNewTokens: s.maxNewTokens,
          padTokenId: s.padTokenId,
          doSample: s.doSample,
          temperature: s.temperature,
          topK: s.topK,
          topP: s.topP,
          repetitionPenalty: s.repetitionPenalty,
          seed: s.seed,
          eosTokenId: s.eosTokenId,
          minNewTokens: s.minNewTokens,
        },
      ),
    ).finally(() => this.model.train(wasTraining));
    this.meter.sample();
    const b = out.sequences.length;
    const l = out.sequences[0]?.length ?? 0;
    const data = new Int32Array(b * l);
    out.sequences.forEach((r, i) => data.set(r, i * l));
    return { data, shape: [b, l] };
  }

  async logProbs(inputIds: IntMatrix, attentionMask: IntMatrix): Promise<FloatMatrix> {
    return logProbsOf(this.model, inputIds, attentionMask, this.meter);
  }

  async trainPolicy(batch: PolicyBatch, loss: PolicyLossSettings): Promise<UpdateResult> {
    return this.afterUpdate(this.optimizer.backward(() => {
      const lp = sequenceLogProbs(this.model, ids(batch.inputIds), ids(batch.attentionMask), this.meter); // [B, L-1]
      const [b, t] = lp.shape;
      const actionLp = tf.slice(lp, [0, batch.start], [b, t - batch.start]) as tf.Tensor2D; // [B, W]
      const mask = floats(batch.actionMask);
      let l = actorLossTensor(actionLp, floats(batch.oldLogprobs), floats(batch.advantages), mask, { cliprange: loss.cliprange });
      if (loss.klInLossCoef && batch.refLogprobs) {
        // GRPO's k3 estimator: exp(ref - lp) - (ref - lp) - 1 >= 0, averaged over the answer tokens.
        const d = tf.sub(floats(batch.refLogprobs), actionLp);
        const k3 = tf.sub(tf.sub(tf.exp(d), d), 1);
        l = tf.add(l, tf.mul(loss.klInLossCoef, tf.div(tf.sum(tf.mul(k3, mask)), tf.sum(mask)))) as tf.Scalar;
      }
      return l;
    }));
  }

  async trainLm(batch: LmBatch, coef: number): Promise<UpdateResult> {
    return this.afterUpdate(
      this.optimizer.backward(() => {
        const logits = this.model.forward({ inputIds: ids(batch.inputIds), attentionMask: ids(batch.attentionMask) });
        this.meter.sample();
        return causalLmLoss(logits, ids(batch.inputIds));
      }, coef),
    );
  }

  /** The optimizer's moments appear at its first step: the heap is sampled after every update too. */
  private afterUpdate(r: UpdateResult): UpdateResult {
    this.meter.sample();
    return r;
  }

  async updateEma(beta: number): Promise<boolean> {
    if (!this.ema) return false;
    movingAverage(this.model.namedParameters(), this.ema.namedParameters(), beta);
    return true;
  }

  async saveModel(dir: string, emaDir?: string): Promise<void> {
    await saveFinal(this.model, this.tokenizer, dir);
    if (this.ema && emaDir) await saveFinal(this.ema, this.tokenizer, emaDir);
  }

  async saveState(dir: string): Promise<void> {
    await saveFinal(this.model, this.tokenizer, `${dir}/model`);
    saveLoraResume(this.model, `${dir}/model`);
    if (this.ema) {
      await saveFinal(this.ema, this.tokenizer, `${dir}/ema`);
      saveLoraResume(this.ema, `${dir}/ema`);
    }
    this.optimizer.save(`${dir}/optimizer`);
    writeRng(dir, this.model.rng);
  }

  async loadState(dir: string): Promise<void> {
    readRng(dir, this.model.rng);
    loadWeightsInto(this.model, `${dir}/model`);
    loadLoraResume(this.model, `${dir}/model`);
    if (this.ema) {
      loadWeightsInto(this.ema, `${dir}/ema`);
      loadLoraResume(this.ema, `${dir}/ema`);
    }
    this.optimizer.load(`${dir}/optimizer`);
  }

  async memory(): Promise<RoleMemory> {
    // Frozen bf16 weights (held outside the tensor heap) count at their 2 bytes each.
    const params = bytesOf(this.model.namedParameters().values()) + this.model.bf16Bytes() + (this.ema ? bytesOf(this.ema.namedParameters().values()) + this.ema.bf16Bytes() : 0);
    return { parameters: params, optimizer: this.optimizer.stateBytes(), peakTensorBytes: this.meter.peak };
  }

  async dispose(): Promise<void> {
    this.optimizer.dispose();
    this.model.dispose();
    this.ema?.dispose();
  }
}

async function saveFinal(model: CausalLM, tokenizer: Tokenizer | null, dir: string): Promise<void> {
  const opts = tokenizer ? { tokenizer } : {};
  if (hasLora(model)) await saveFused(model, dir, opts);
  else await model.save(dir, opts);
}

/** The critic in this heap: a RewardModel whose per-token values are trained with the clipped value loss. */
export class LocalCritic implements CriticRole {
  readonly name = 'critic';

  constructor(readonly model: RewardModel, readonly optimizer: RoleOptimizer, private readonly tokenizer: Tokenizer | null, private readonly meter: HeapMeter) {}

  async setTraining(training: boolean): Promise<void> {
    this.model.train(training);
  }

  private valuesTensor(inputIds: IntMatrix, attentionMask: IntMatrix): tf.Tensor2D {
    return tf.tidy(() => {
      const v = this.model.values(ids(inputIds), ids(attentionMask)); // [B, L]
      this.meter.sample();
      const [b, l] = v.shape;
      return tf.slice(v, [0, 0], [b, l - 1]) as tf.Tensor2D; // [B, L-1]
    });
  }

  async values(inputIds: IntMatrix, attentionMask: IntMatrix): Promise<FloatMatrix> {
    const t = this.valuesTensor(inputIds, attentionMask);
    try {
      return fromTensor(t);
    } finally {
      t.dispose();
    }
  }

  async trainValue(batch: ValueBatch, cliprangeValue: number): Promise<UpdateResult> {
    const r = this.optimizer.backward(() => {
      const v = this.valuesTensor(batch.inputIds, batch.attentionMask); // [B, L-1]
      const [b, t] = v.shape;
      const vs = tf.slice(v, [0, batch.start], [b, t - batch.start]) as tf.Tensor2D; // [B, W]
      return criticLossTensor(vs, floats(batch.oldValues), floats(batch.returns), floats(batch.actionMask), { cliprangeValue });
    });
    this.meter.sample();
    return r;
  }

  async saveModel(dir: string): Promise<void> {
    await this.model.save(dir, this.tokenizer ? { tokenizer: this.tokenizer } : {});
  }

  async saveState(dir: string): Promise<void> {
    await this.model.save(`${dir}/model`, this.tokenizer ? { tokenizer: this.tokenizer } : {});
    saveLoraResume(this.model.body, `${dir}/model`);
    this.optimizer.save(`${dir}/optimizer`);
    writeRng(dir, this.model.body.rng);
  }

  async loadState(dir: string): Promise<void> {
    readRng(dir, this.model.body.rng);
    assignRewardWeights(this.model, `${dir}/model`);
    loadLoraResume(this.model.body, `${dir}/model`);
    this.optimizer.load(`${dir}/optimizer`);
  }

  async memory(): Promise<RoleMemory> {
    return { parameters: bytesOf(this.model.namedParameters().values()) + this.model.body.bf16Bytes(), optimizer: this.optimizer.stateBytes(), peakTensorBytes: this.meter.peak };
  }

  async dispose(): Promise<void> {
    this.optimizer.dispose();
    this.model.dispose();
  }
}

/** The frozen reward model in this heap. */
export class LocalReward implements RewardRole {
  readonly name = 'reward';

  constructor(readonly model: RewardModel, private readonly meter: HeapMeter) {
    model.setTrainable(false);
    model.eval();
  }

  async setTraining(): Promise<void> {
    // DeepSpeed-Chat's trainer.train() leaves the reward model in eval mode.
  }

  async score(inputIds: IntMatrix, attentionMask: IntMatrix, promptLength: number): Promise<Float32Array> {
    const inputs = [ids(inputIds), ids(attentionMask)];
    const out = this.model.forwardValueTensors(inputs[0], inputs[1], promptLength);
    this.meter.sample();
    try {
      return Float32Array.from(out.chosenEndScores.dataSync());
    } finally {
      tf.dispose([...inputs, out.values, out.chosenEndScores]);
    }
  }

  async memory(): Promise<RoleMemory> {
    return { parameters: bytesOf(this.model.namedParameters().values()) + this.model.body.bf16Bytes(), optimizer: 0, peakTensorBytes: this.meter.peak };
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}

/** Puts a saved reward/critic folder's weights (body + v_head) into a RewardModel built with the same flags. */
export function assignRewardWeights(model: RewardModel, dir: string): void {
  const file = findWeightsFile(dir).file;
  const sd = loadStateDict(file);
  assignWeights(model.body, sd, file);
  const head = sd.get(V_HEAD_KEY);
  const dim = model.vHead.shape[0];
  if (!head || head.shape.join(',') !== `1,${dim}` || !(head.data instanceof Float32Array)) {
    throw new CheckpointError(`${file}: no float '${V_HEAD_KEY}' of shape [1, ${dim}]; the checkpoint is not from this critic`);
  }
  tf.tidy(() => model.vHead.assign(tf.tensor2d(head.data as Float32Array, [dim, 1])));
}
