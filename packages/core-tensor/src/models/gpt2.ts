// GPT-2 as HF's GPT2LMHeadModel: Conv1D [in, out] projections, learned positions, tanh GELU, tied head.
import * as tf from '@tensorflow/tfjs';
import { getActivation, type Activation } from './activations';
import { attentionFromRows } from './attention';
import { CausalLM, type BuildOptions } from './causal-lm';
import { parseGpt2Config, type Gpt2Config } from './config';
import { NATIVE_ACTIVATIONS } from '../backend/native-ops';
import type { DecodeLayer, DecodeSpec } from '../backend/native-decode';
import { allPresent, decodeColumns, decodeLinear, onHeap, tiedHead } from './decode-spec';
import type { Embedding } from './embedding';
import type { ModuleFactory } from './factory';
import type { Linear } from './linear';
import type { LayerNorm } from './norms';
import type { WeightSource } from './params';
import type { Architecture } from './registry';
import type { DecoderLayer, LayerContext, LayerKV } from './types';

class Gpt2Block implements DecoderLayer {
  readonly name: string;
  private readonly ln1: LayerNorm;
  private readonly cAttn: Linear;
  private readonly attnCProj: Linear;
  private readonly ln2: LayerNorm;
  private readonly cFc: Linear;
  private readonly mlpCProj: Linear;
  private readonly scoreDivisor: number;

  constructor(readonly index: number, private readonly c: Gpt2Config, private readonly f: ModuleFactory, private readonly act: Activation) {
    const n = (this.name = `transformer.h.${index}`);
    const d = c.hiddenSize;
    const eps = c.layerNormEpsilon;
    this.ln1 = f.layerNorm(`${n}.ln_1`, d, eps);
    this.cAttn = f.linear(`${n}.attn.c_attn`, d, 3 * d, true, 'conv1d');
    this.attnCProj = f.linear(`${n}.attn.c_proj`, d, d, true, 'conv1d');
    this.ln2 = f.layerNorm(`${n}.ln_2`, d, eps);
    this.cFc = f.linear(`${n}.mlp.c_fc`, d, c.nInner, true, 'conv1d');
    this.mlpCProj = f.linear(`${n}.mlp.c_proj`, c.nInner, d, true, 'conv1d');
    this.scoreDivisor = (c.scaleAttnWeights ? Math.sqrt(c.headDim) : 1) * (c.scaleAttnByInverseLayerIdx ? index + 1 : 1);
  }

  parameters(): Map<string, tf.Variable> {
    return this.f.paramsUnder(this.name);
  }

  /** This block for the native decoding step (q, k, v as column ranges of c_attn), or null with adapters. */
  decodeLayer(): DecodeLayer | null {
    const d = this.c.hiddenSize;
    const lins = allPresent([
      decodeColumns(this.cAttn, 0, d), decodeColumns(this.cAttn, d, d), decodeColumns(this.cAttn, 2 * d, d),
      decodeLinear(this.attnCProj), decodeLinear(this.cFc), decodeLinear(this.mlpCProj),
    ]);
    if (lins == null) return null;
    const [q, k, v, o, fc1, fc2] = lins;
    return { ln1: { w: this.ln1.weight, b: this.ln1.bias }, ln2: { w: this.ln2.weight, b: this.ln2.bias }, q, k, v, o, fc1, fc2, divisor: this.scoreDivisor };
  }

  apply(hidden: tf.Tensor3D, ctx: LayerContext, kv?: LayerKV): tf.Tensor3D {
    const c = this.c;
    const { batch: b, queryLen: t } = ctx;
    const d = c.hiddenSize;
    let x = tf.reshape(hidden, [b * t, d]); // [b*t, d]
    const qkv = this.cAttn.apply(this.ln1.apply(x)); // [b*t, 3d] = [q | k | v]
    const [q, k, v] = tf.split(qkv, 3, 1); // [b*t, d] each
    const opts = { scoreDivisor: this.scoreDivisor, dropoutRate: c.attnPdrop };
    let h = this.attnCProj.apply(attentionFromRows(q, k, v, c.numHeads, c.numHeads, c.headDim, ctx, kv, opts));
    x = tf.add(x, ctx.dropout(h, c.residPdrop));
    h = this.mlpCProj.apply(this.cFc.applyActivated(this.ln2.apply(x), c.activation, this.act));
    x = tf.add(x, ctx.dropout(h, c.residPdrop));
    return tf.reshape(x, [b, t, d]) as tf.Tensor3D; // [b, t, d]
  }
}

export class Gpt2LMHeadModel extends CausalLM {
  readonly hfClassName = 'GPT2LMHeadModel';
  readonly basePrefix = 'transformer.';
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly lnF: LayerNorm;
  private readonly head: Linear | null;

  constructor(readonly config: Gpt2Config, source: WeightSource, opts: BuildOptions) {
    super(source, opts);
    const c = config;
    const f = this.factory;
    const act = getActivation(c.activation, 'config.json activation_function');
    this.wte = f.embedding('transformer.wte', c.vocabSize, c.hiddenSize);
    this.wpe = f.embedding('transformer.wpe', c.maxPositions, c.hiddenSize);
    for (let i = 0; i < c.numLayers; i++) this.layers.push(new Gpt2Block(i, c, f, act));
    this.lnF = f.layerNorm('transformer.ln_f', c.hiddenSize, c.layerNormEpsilon);
    this.head = !c.tieWordEmbeddings && !this.bodyOnly ? f.linear('lm_head', c.hiddenSize, c.vocabSize, false) : null;
  }

  protected embed(ids: tf.Tensor2D, positionIds: tf.Tensor2D, ctx: LayerContext): tf.Tensor3D {
    const x = tf.add(this.wte.apply(ids), this.wpe.apply(positionIds)); // [b, t, hidden]
    return ctx.dropout(x, this.config.embdPdrop) as tf.Tensor3D;
  }

  protected finalNorm(hidden: tf.Tensor3D): tf.Tensor3D {
    return this.lnF.apply(hidden) as tf.Tensor3D;
  }

  protected tokenEmbeddingWeight(): tf.Variable {
    return this.wte.weight;
  }

  protected untiedHead(): Linear | null {
    return this.head;
  }

  protected override decodeSpec(): DecodeSpec | null {
    const c = this.config;
    const act = NATIVE_ACTIVATIONS[c.activation];
    if (act == null || !onHeap(this.wte) || !onHeap(this.wpe)) return null;
    const layers = allPresent(this.layers.map((l) => (l as Gpt2Block).decodeLayer()));
    const head = this.head != null ? decodeLinear(this.head) : c.tieWordEmbeddings ? tiedHead(this.wte.weight) : null;
    if (layers == null || head == null) return null;
    return {
      d: c.hiddenSize, heads: c.numHeads, headDim: c.headDim, ffn: c.nInner, vocab: c.vocabSize, act, preLn: true, eps: c.layerNormEpsilon,
      qScale: 1, tok: this.wte.weight, pos: this.wpe.weight, posOffset: 0, finalLn: { w: this.lnF.weight, b: this.lnF.bias }, head, layers,
    };
  }

  protected override positionRange(): [number, number] {
    return [0, this.config.maxPositions];
  }

  protected override checkLength(totalLen: number): void {
    if (totalLen > this.config.maxPositions) {
      throw new Error(
        `sequence of ${totalLen} tokens is longer than GPT-2's n_positions (${this.config.maxPositions}) in config.json; ` +
          'truncate the input or lower max_new_tokens',
      );
    }
  }
}

export const gpt2Architecture: Architecture<Gpt2Config> = {
  modelType: 'gpt2',
  hfClassName: 'GPT2LMHeadModel',
  basePrefix: 'transformer.',
  embeddingKey: 'transformer.wte.weight',
  parseConfig: parseGpt2Config,
  build: (config, source, opts) => new Gpt2LMHeadModel(config, source, opts),
};
