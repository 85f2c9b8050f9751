// RewardModel: a causal LM body plus DeepSpeed-Chat's value head (linear d -> 1, no bias) and its pairwise loss.
import * as tf from '@tensorflow/tfjs';
import { saveFused, type CausalLM, type HostTensor, type TensorToWrite } from '@rlhfkit/core-tensor';
import { emptySpan, idRows, pairIndices, scoreColumn, valueEndIndices, type HostIds, type PairIndices } from './pair-indices';
import { rewardConfigBlock, REWARD_CONFIG_KEY, V_HEAD_KEY } from './reward-config';

/** Ids or a 0/1 mask: host rows, a collator matrix ({data: Int32Array, shape}) or a 2-D tensor. */
export type RewardIds = HostIds | tf.Tensor2D;

/** A chosen-then-rejected batch [2B, T] (DataCollatorReward's layout). */
export interface RewardBatch {
  inputIds: RewardIds;
  attentionMask?: RewardIds;
}

export interface RewardModelOptions {
  /** The pad id the data was padded with (DeepSpeed-Chat: the eos id for every non-LLaMA model). */
  padTokenId: number;
  /** How many pad ids may appear before the padding proper (1 for OPT, whose BOS equals pad = eos; 0 otherwise). */
  numPaddingAtBeginning: number;
}

/** RewardModel.forward with tensors (for a training graph); the caller disposes them. */
export interface RewardForwardTensors {
  /** Mean over pairs of the mean of -log sigmoid(chosen - rejected) over each pair's span. */
  loss: tf.Scalar;
  /** [B] value at each chosen row's last real token (DeepSpeed-Chat's chosen_mean_scores). */
  chosenEndScores: tf.Tensor1D;
  /** [B] the same for the rejected rows (rejected_mean_scores). */
  rejectedEndScores: tf.Tensor1D;
  pairs: PairIndices[];
}

/** RewardModel.forward on the host, in DeepSpeed-Chat's names. */
export interface RewardForwardOutput {
  loss: number;
  /** End scores, not means: DeepSpeed-Chat keeps the historical name. */
  chosenMeanScores: number[];
  rejectedMeanScores: number[];
  pairs: PairIndices[];
}

export interface ForwardValueTensors {
  /** [batch, seq] value of every position (pads included). */
  values: tf.Tensor2D;
  /** [batch] value just before the first pad after the prompt (or at the last position). */
  chosenEndScores: tf.Tensor1D;
  /** Per row, the end index c_ind (the score is read at c_ind - 1). */
  endIndices: number[];
}

export interface ForwardValueOutput {
  values: number[][];
  chosenEndScores: number[];
  endIndices: number[];
}

export interface RewardSaveOptions {
  /** Saved beside the weights (tokenizer.json etc.); pass the tokenizer with the pad token the model was trained with. */
  tokenizer?: { save(dir: string): unknown };
  /** On-disk dtype (default F32). */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Anything more to record in config.json. */
  configUpdates?: Record<string, unknown>;
}

interface IdsInput {
  /** What the body's forward takes (a tensor owned by the caller of toModelInput, or host rows). */
  model: number[][] | tf.Tensor2D;
  host: HostIds;
  owned: tf.Tensor[];
}

function isTensor(x: unknown): x is tf.Tensor {
  return x instanceof tf.Tensor;
}

/** Host ids for the index search, and what the body takes; never copies a host array more than once. */
function toInput(x: RewardIds, what: string, vocab: number | null): IdsInput {
  if (isTensor(x)) {
    if (x.rank !== 2) throw new Error(`${what} must be 2-D [batch, seq], got shape [${x.shape}]`);
    const data = x.dtype === 'int32' ? (x.dataSync() as Int32Array) : Int32Array.from(x.dataSync());
    return { model: x, host: { data, shape: [x.shape[0], x.shape[1]] }, owned: [] };
  }
  if (Array.isArray(x)) return { model: x, host: x, owned: [] };
  const m = x as { data: Int32Array; shape: readonly [number, number] };
  if (vocab !== null) {
    for (let i = 0; i < m.data.length; i++) {
      const v = m.data[i];
      if (v < 0 || v >= vocab) {
        throw new Error(`${what}[${Math.floor(i / m.shape[1])}][${i % m.shape[1]}] is ${v}, outside [0, ${vocab}); use the model's own tokenizer`);
      }
    }
  }
  const t = tf.tensor2d(m.data, [m.shape[0], m.shape[1]], 'int32');
  return { model: t, host: m, owned: [t] };
}

export class RewardModel {
  /** The transformer body (HF AutoModel's role); its LM head, if any, is never used here. */
  readonly body: CausalLM;
  /** The value head held as [dim, 1] (the transpose of HF's nn.Linear weight [1, dim]). */
  readonly vHead: tf.Variable;
  padTokenId: number;
  numPaddingAtBeginning: number;

  constructor(body: CausalLM, vHead: tf.Variable, opts: RewardModelOptions) {
    const dim = vHead.shape[0];
    if (vHead.rank !== 2 || vHead.shape[1] !== 1) throw new Error(`RewardModel: the value head must be [dim, 1], got [${vHead.shape}]`);
    const probeDim = RewardModel.hiddenWidth(body);
    if (dim !== probeDim) {
      throw new Error(`RewardModel: the value head has ${dim} inputs but the ${body.hfClassName} body outputs ${probeDim}-wide hidden states`);
    }
    if (!Number.isInteger(opts.padTokenId) || opts.padTokenId < 0) throw new Error(`RewardModel: padTokenId must be a token id, got ${opts.padTokenId}`);
    if (!Number.isInteger(opts.numPaddingAtBeginning) || opts.numPaddingAtBeginning < 0) {
      throw new Error(`RewardModel: numPaddingAtBeginning must be an integer >= 0, got ${opts.numPaddingAtBeginning}`);
    }
    this.body = body;
    this.vHead = vHead;
    this.padTokenId = opts.padTokenId;
    this.numPaddingAtBeginning = opts.numPaddingAtBeginning;
  }

  /** Width of last_hidden_state: OPT's word_embed_proj_dim (after project_out), else the hidden size. */
  static hiddenWidth(body: CausalLM): number {
    const c = body.config as { wordEmbedProjDim?: number; hiddenSize: number };
    return c.wordEmbedProjDim ?? c.hiddenSize;
  }

  get training(): boolean {
    return this.body.training;
  }

  train(mode = true): this {
    this.body.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  // ---- forward passes ------------------------------------------------------------------------------------

  /** Per-token values [batch, seq] = v_head(last_hidden_state) (forward_value with return_value_only). Caller disposes. */
  values(inputIds: RewardIds, attentionMask?: RewardIds): tf.Tensor2D {
    const vocab = this.body.config.vocabSize;
    const ids = toInput(inputIds, 'inputIds', vocab);
    const mask = attentionMask === undefined ? undefined : toInput(attentionMask, 'attentionMask', null);
    try {
      return this.valuesOf(ids.model, mask?.model);
    } finally {
      tf.dispose([...ids.owned, ...(mask?.owned ?? [])]);
    }
  }

  private valuesOf(ids: number[][] | tf.Tensor2D, mask: number[][] | tf.Tensor2D | undefined): tf.Tensor2D {
    return tf.tidy(() => {
      const h = this.body.forwardHidden({ inputIds: ids, attentionMask: mask }); // [b, t, d]
      const [b, t, d] = h.shape;
      const v = tf.matMul(tf.reshape(h, [b * t, d]) as tf.Tensor2D, this.vHead); // [b*t, 1]
      return tf.reshape(v, [b, t]) as tf.Tensor2D; // [b, t]
    });
  }

  /**
   * DeepSpeed-Chat's RewardModel.forward over a chosen-then-rejected batch, as tensors. Call it inside
   * tf.variableGrads / a GradientAccumulator to train; the loss's span and end positions come from the ids.
   */
  forwardTensors(batch: RewardBatch): RewardForwardTensors {
    const ids = toInput(batch.inputIds, 'inputIds', this.body.config.vocabSize);
    const mask = batch.attentionMask === undefined ? undefined : toInput(batch.attentionMask, 'attentionMask', null);
    try {
      const pairs = pairIndices(ids.host, this.padTokenId, this.numPaddingAtBeginning);
      const { rows, cols } = idRows(ids.host);
      const bs = rows / 2;
      if (pairs.every(emptySpan)) {
        const p = pairs[0];
        throw new Error(
          `reward batch: no pair has a token to compare (pair 0 differs first at ${p.divergenceInd} but its padding starts at ${p.endInd}); ` +
            `with pad id ${this.padTokenId} and num_padding_at_beginning ${this.numPaddingAtBeginning} the rows end before they differ. ` +
            'Check --num_padding_at_beginning (1 only when every row starts with a BOS equal to the pad id, as OPT with pad = eos) and the pad token',
        );
      }
      // Host-built weights turn DS-Chat's per-pair slice-and-mean into one masked sum: w = 1/(end - div) on the span.
      const weights = new Float32Array(bs * cols);
      const pick = new Float32Array(rows * cols);
      pairs.forEach((p, i) => {
        const n = p.endInd - p.divergenceInd;
        for (let t = p.divergenceInd; t < p.endInd; t++) weights[i * cols + t] = 1 / n;
        pick[i * cols + scoreColumn(p.cInd, cols)] = 1;
        pick[(bs + i) * cols + scoreColumn(p.rInd, cols)] = 1;
      });
      const out = tf.tidy(() => {
        const v = this.valuesOf(ids.model, mask?.model); // [2B, T]
        const chosen = tf.slice(v, [0, 0], [bs, cols]); // [B, T]
        const rejected = tf.slice(v, [bs, 0], [bs, cols]); // [B, T]
        // -log sigmoid(d) = softplus(-d); tf.logSigmoid's custom gradient loses its input inside a nested tidy.
        const perToken = tf.softplus(tf.neg(tf.sub(chosen, rejected))); // [B, T]
        const loss = tf.div(tf.sum(tf.mul(perToken, tf.tensor2d(weights, [bs, cols]))), bs) as tf.Scalar;
        const scores = tf.sum(tf.mul(v, tf.tensor2d(pick, [rows, cols])), 1); // [2B]
        return {
          loss,
          chosenEndScores: tf.slice(scores, [0], [bs]) as tf.Tensor1D,
          rejectedEndScores: tf.slice(scores, [bs], [bs]) as tf.Tensor1D,
        };
      });
      return { ...out, pairs };
    } finally {
      tf.dispose([...ids.owned, ...(mask?.owned ?? [])]);
    }
  }

  /** forwardTensors read back to the host (evaluation, rw_eval); leaves no tensor behind. */
  forward(batch: RewardBatch): RewardForwardOutput {
    const t = this.forwardTensors(batch);
    try {
      return {
        loss: t.loss.dataSync()[0],
        chosenMeanScores: Array.from(t.chosenEndScores.dataSync()),
        rejectedMeanScores: Array.from(t.rejectedEndScores.dataSync()),
        pairs: t.pairs,
      };
    } finally {
      tf.dispose([t.loss, t.chosenEndScores, t.rejectedEndScores]);
    }
  }

  /**
   * DeepSpeed-Chat's forward_value: values of every position and, per row, the value just before the first pad
   * at or after promptLength (step 3 scores its generated answers this way; the critic trains on `values`).
   */
  forwardValueTensors(inputIds: RewardIds, attentionMask: RewardIds | undefined, promptLength: number): ForwardValueTensors {
    const ids = toInput(inputIds, 'inputIds', this.body.config.vocabSize);
    const mask = attentionMask === undefined ? undefined : toInput(attentionMask, 'attentionMask', null);
    try {
      const endIndices = valueEndIndices(ids.host, this.padTokenId, promptLength);
      const { rows, cols } = idRows(ids.host);
      const pick = new Float32Array(rows * cols);
      endIndices.forEach((e, r) => (pick[r * cols + scoreColumn(e, cols)] = 1));
      const out = tf.tidy(() => {
        const values = this.valuesOf(ids.model, mask?.model); // [b, t]
        const chosenEndScores = tf.sum(tf.mul(values, tf.tensor2d(pick, [rows, cols])), 1) as tf.Tensor1D; // [b]
        return { values, chosenEndScores };
      });
      return { ...out, endIndices };
    } finally {
      tf.dispose([...ids.owned, ...(mask?.owned ?? [])]);
    }
  }

  /** forwardValueTensors read back to the host. */
  forwardValue(inputIds: RewardIds, attentionMask: RewardIds | undefined, promptLength: number): ForwardValueOutput {
    const t = this.forwardValueTensors(inputIds, attentionMask, promptLength);
    try {
      const [b, s] = t.values.shape;
      const flat = t.values.dataSync();
      return {
        values: Array.from({ length: b }, (_, r) => Array.from(flat.subarray(r * s, (r + 1) * s))),
        chosenEndScores: Array.from(t.chosenEndScores.dataSync()),
        endIndices: t.endIndices,
      };
    } finally {
      tf.dispose([t.values, t.chosenEndScores]);
    }
  }

  // ---- parameters ----------------------------------------------------------------------------------------

  /** Every parameter by HF name (the body's `model.…` names and `v_head.weight`); layout as CausalLM.namedParameters. */
  namedParameters(): Map<string, tf.Variable> {
    const out = this.body.namedParameters();
    out.set(V_HEAD_KEY, this.vHead);
    return out;
  }

  trainableParameters(): Map<string, tf.Variable> {
    const out = this.body.trainableParameters();
    if (this.vHead.trainable) out.set(V_HEAD_KEY, this.vHead);
    return out;
  }

  /** true when namedParameters().get(name) holds the transpose of the HF tensor (v_head.weight does). */
  isTransposed(name: string): boolean {
    return name === V_HEAD_KEY ? true : this.body.isTransposed(name);
  }

  /** Sets trainable on every parameter, or per name (the predicate sees `v_head.weight` too). */
  setTrainable(which: boolean | ((name: string) => boolean)): void {
    this.body.setTrainable(which);
    this.vHead.trainable = typeof which === 'boolean' ? which : which(V_HEAD_KEY);
  }

  numParameters(): number {
    return this.body.numParameters() + this.vHead.size;
  }

  /** v_head.weight in HF layout [1, dim]. */
  valueHeadTensor(): HostTensor & { data: Float32Array } {
    return { dtype: 'F32', shape: [1, this.vHead.shape[0]], data: Float32Array.from(this.vHead.dataSync()) };
  }

  /** Host copies in HF names and layout: the body's tensors plus `v_head.weight`. */
  stateDict(): Map<string, HostTensor> {
    const out = this.body.stateDict();
    out.set(V_HEAD_KEY, this.valueHeadTensor());
    return out;
  }

  /**
   * Writes an HF folder: the body's tensors (LoRA fused in) under their causal-LM names (transformers' AutoModel and
   * AutoModelForCausalLM load it, ignoring `v_head.weight`), `v_head.weight` beside them, and a config.json
   * whose `rlhfkit_reward_model` block records the pad id and num_padding_at_beginning, so loadRewardModel(dir)
   * needs no options.
   */
  async save(dir: string, opts: RewardSaveOptions = {}): Promise<void> {
    const head: TensorToWrite = this.valueHeadTensor();
    // LoRA products are folded into the saved weights (DeepSpeed-Chat's convert_lora_to_linear_layer) without
    // touching the live model, which may keep training unfused.
    await saveFused(this.body, dir, {
      tokenizer: opts.tokenizer,
      dtype: opts.dtype,
      extraTensors: new Map([[V_HEAD_KEY, head]]),
      configUpdates: { ...opts.configUpdates, [REWARD_CONFIG_KEY]: rewardConfigBlock(this) },
    });
  }

  dispose(): void {
    this.body.dispose();
    this.vHead.dispose();
  }
}
