// OPT (facebook/opt-*) as HF's OPTForCausalLM: pre-/post-LN, learned positions (+2 offset), project_in/out.
import * as tf from '@tensorflow/tfjs';
import { getActivation, type Activation } from './activations';
import { attentionFromRows } from './attention';
import { CausalLM, type BuildOptions } from './causal-lm';
import { parseOptConfig, type OptConfig } from './config';
import { NATIVE_ACTIVATIONS } from '../backend/native-ops';
import { canUseNativeAttention } from '../backend/native-attention';
import { canUseNativeBlocks, nativeAttentionBlock, nativeMlpBlock } from '../backend/native-blocks';
import type { DecodeLayer, DecodeSpec } from '../backend/native-decode';
import { allPresent, decodeLinear, onHeap, tiedHead } from './decode-spec';
import type { Embedding } from './embedding';
import type { ModuleFactory } from './factory';
import type { Linear } from './linear';
import { arangePositions } from './masks';
import type { LayerNorm } from './norms';
import type { WeightSource } from './params';
import type { Architecture } from './registry';
import type { DecoderLayer, LayerContext, LayerKV } from './types';

/** OPT's position table starts real tokens at row 2 (fairseq's padding_idx legacy). */
const POSITION_OFFSET = 2;

class OptDecoderLayer implements DecoderLayer {
  readonly name: string;
  private readonly kProj: Linear;
  private readonly vProj: Linear;
  private readonly qProj: Linear;
  private readonly outProj: Linear;
  private readonly selfAttnLayerNorm: LayerNorm;
  private readonly fc1: Linear;
  private readonly fc2: Linear;
  private readonly finalLayerNorm: LayerNorm;
  private readonly scaling: number;

  constructor(readonly index: number, private readonly c: OptConfig, private readonly f: ModuleFactory, private readonly act: Activation) {
    const n = (this.name = `model.decoder.layers.${index}`);
    const d = c.hiddenSize;
    this.kProj = f.linear(`${n}.self_attn.k_proj`, d, d, c.enableBias);
    this.vProj = f.linear(`${n}.self_attn.v_proj`, d, d, c.enableBias);
    this.qProj = f.linear(`${n}.self_attn.q_proj`, d, d, c.enableBias);
    this.outProj = f.linear(`${n}.self_attn.out_proj`, d, d, c.enableBias);
    this.selfAttnLayerNorm = f.layerNorm(`${n}.self_attn_layer_norm`, d, 1e-5, c.layerNormElementwiseAffine);
    this.fc1 = f.linear(`${n}.fc1`, d, c.ffnDim, c.enableBias);
    this.fc2 = f.linear(`${n}.fc2`, c.ffnDim, d, c.enableBias);
    this.finalLayerNorm = f.layerNorm(`${n}.final_layer_norm`, d, 1e-5, c.layerNormElementwiseAffine);
    this.scaling = Math.pow(c.headDim, -0.5);
  }

  parameters(): Map<string, tf.Variable> {
    return this.f.paramsUnder(this.name);
  }

  /** This block for the native decoding step, or null when a linear layer has an adapter. */
  decodeLayer(): DecodeLayer | null {
    const lins = allPresent([this.qProj, this.kProj, this.vProj, this.outProj, this.fc1, this.fc2].map(decodeLinear));
    if (lins == null) return null;
    const [q, k, v, o, fc1, fc2] = lins;
    const ln = (n: LayerNorm): DecodeLayer['ln1'] => ({ w: n.weight, b: n.bias });
    return { ln1: ln(this.selfAttnLayerNorm), ln2: ln(this.finalLayerNorm), q, k, v, o, fc1, fc2, divisor: 1 };
  }

  /**
   * The whole layer as two native blocks (backend/native-blocks.ts): pre-LN with affine norms and biases, no cache,
   * no adapters, no dropout while training, a native activation; null otherwise (the ops below run).
   */
  private applyBlocks(hidden: tf.Tensor3D, ctx: LayerContext, kv: LayerKV | undefined): tf.Tensor3D | null {
    const c = this.c;
    const { batch: b, queryLen: t } = ctx;
    const act = NATIVE_ACTIVATIONS[c.activation];
    const ln1 = this.selfAttnLayerNorm;
    const ln2 = this.finalLayerNorm;
    const lins = [this.qProj, this.kProj, this.vProj, this.outProj, this.fc1, this.fc2];
    if (kv != null || !c.doLayerNormBefore || act == null || hidden.dtype !== 'float32' || !canUseNativeBlocks()) return null;
    if (ctx.training && (c.dropout > 0 || c.attentionDropout > 0)) return null;
    // A frozen bfloat16 weight (weight16, held outside the tensor heap) keeps the ops below too.
    const plain = (l: Linear): boolean => l.adapter == null && l.bias != null && (l as { weight16?: unknown }).weight16 == null;
    if (ln1.weight == null || ln1.bias == null || ln2.weight == null || ln2.bias == null || !lins.every(plain)) return null;
    if (!canUseNativeAttention(b, t, ctx.maskBias)) return null;
    const d = c.hiddenSize;
    const x = tf.reshape(hidden, [b * t, d]) as tf.Tensor2D; // [b*t, d]
    const bias = (l: Linear): tf.Tensor => l.bias as tf.Tensor;
    const y = nativeAttentionBlock(x, {
      lnW: ln1.weight, lnB: ln1.bias, wq: this.qProj.weight, bq: bias(this.qProj), wk: this.kProj.weight, bk: bias(this.kProj),
      wv: this.vProj.weight, bv: bias(this.vProj), wo: this.outProj.weight, bo: bias(this.outProj),
    }, ctx.maskBias, { batch: b, heads: c.numHeads, eps: 1e-5, qScale: this.scaling, divisor: 1 }); // [b*t, d]
    const z = nativeMlpBlock(y, { lnW: ln2.weight, lnB: ln2.bias, w1: this.fc1.weight, b1: bias(this.fc1), w2: this.fc2.weight, b2: bias(this.fc2) }, { act, eps: 1e-5 });
    return tf.reshape(z, [b, t, d]) as tf.Tensor3D; // [b, t, d]
  }

  apply(hidden: tf.Tensor3D, ctx: LayerContext, kv?: LayerKV): tf.Tensor3D {
    const blocks = this.applyBlocks(hidden, ctx, kv);
    if (blocks != null) return blocks;
    const c = this.c;
    const { batch: b, queryLen: t } = ctx;
    const d = c.hiddenSize;
    const preLn = c.doLayerNormBefore;
    let x = tf.reshape(hidden, [b * t, d]); // [b*t, d]
    let h = preLn ? this.selfAttnLayerNorm.apply(x) : x;
    // HF scales q (bias included) before the product, not the scores.
    const q = tf.mul(this.qProj.apply(h), this.scaling); // [b*t, d]
    const k = this.kProj.apply(h); // [b*t, d]
    const v = this.vProj.apply(h); // [b*t, d]
    const opts = { scoreDivisor: 1, dropoutRate: c.attentionDropout };
    h = this.outProj.apply(attentionFromRows(q, k, v, c.numHeads, c.numHeads, c.headDim, ctx, kv, opts));
    x = tf.add(x, ctx.dropout(h, c.dropout));
    if (!preLn) x = this.selfAttnLayerNorm.apply(x); // opt-350m: post-LN
    h = preLn ? this.finalLayerNorm.apply(x) : x;
    h = this.fc2.apply(this.fc1.applyActivated(h, c.activation, this.act));
    x = tf.add(x, ctx.dropout(h, c.dropout));
    if (!preLn) x = this.finalLayerNorm.apply(x);
    return tf.reshape(x, [b, t, d]) as tf.Tensor3D; // [b, t, d]
  }
}

export class OptForCausalLM extends CausalLM {
  readonly hfClassName = 'OPTForCausalLM';
  readonly basePrefix = 'model.';
  readonly embedTokens: Embedding;
  readonly embedPositions: Embedding;
  readonly projectOut: Linear | null;
  readonly projectIn: Linear | null;
  readonly finalLayerNorm: LayerNorm | null;
  private readonly head: Linear | null;

  constructor(readonly config: OptConfig, source: WeightSource, opts: BuildOptions) {
    super(source, opts);
    const c = config;
    const f = this.factory;
    const p = 'model.decoder';
    const where = `config.json activation_function`;
    const act = getActivation(c.activation, where);
    this.embedTokens = f.embedding(`${p}.embed_tokens`, c.vocabSize, c.wordEmbedProjDim);
    this.embedPositions = f.embedding(`${p}.embed_positions`, c.maxPositions + POSITION_OFFSET, c.hiddenSize);
    const proj = c.wordEmbedProjDim !== c.hiddenSize;
    this.projectOut = proj ? f.linear(`${p}.project_out`, c.hiddenSize, c.wordEmbedProjDim, false) : null;
    this.projectIn = proj ? f.linear(`${p}.project_in`, c.wordEmbedProjDim, c.hiddenSize, false) : null;
    this.finalLayerNorm =
      c.doLayerNormBefore && !c.removeFinalLayerNorm ? f.layerNorm(`${p}.final_layer_norm`, c.hiddenSize, 1e-5, c.layerNormElementwiseAffine) : null;
    for (let i = 0; i < c.numLayers; i++) this.layers.push(new OptDecoderLayer(i, c, f, act));
    this.head = !c.tieWordEmbeddings && !this.bodyOnly ? f.linear('lm_head', c.wordEmbedProjDim, c.vocabSize, false) : null;
  }

  protected embed(ids: tf.Tensor2D, positionIds: tf.Tensor2D, _ctx: LayerContext): tf.Tensor3D {
    let x = this.embedTokens.apply(ids); // [b, t, wordEmbedProjDim]
    if (this.projectIn) x = this.projectIn.apply(x); // [b, t, hidden]
    const pos = this.embedPositions.apply(tf.add(positionIds, tf.scalar(POSITION_OFFSET, 'int32'))); // [b, t, hidden]
    return tf.add(x, pos) as tf.Tensor3D;
  }

  protected finalNorm(hidden: tf.Tensor3D): tf.Tensor3D {
    let h: tf.Tensor = hidden;
    if (this.finalLayerNorm) h = this.finalLayerNorm.apply(h);
    if (this.projectOut) h = this.projectOut.apply(h); // [b, t, wordEmbedProjDim]
    return h as tf.Tensor3D;
  }

  protected tokenEmbeddingWeight(): tf.Variable {
    return this.embedTokens.weight;
  }

  protected untiedHead(): Linear | null {
    return this.head;
  }

  /** OPT without project_in/out (word_embed_proj_dim = hidden_size), with a native activation and no adapters. */
  protected override decodeSpec(): DecodeSpec | null {
    const c = this.config;
    const act = NATIVE_ACTIVATIONS[c.activation];
    if (this.projectIn != null || this.projectOut != null || act == null || !onHeap(this.embedTokens) || !onHeap(this.embedPositions)) return null;
    const layers = allPresent(this.layers.map((l) => (l as OptDecoderLayer).decodeLayer()));
    const head = this.head != null ? decodeLinear(this.head) : c.tieWordEmbeddings ? tiedHead(this.embedTokens.weight) : null;
    if (layers == null || head == null) return null;
    return {
      d: c.hiddenSize, heads: c.numHeads, headDim: c.headDim, ffn: c.ffnDim, vocab: c.vocabSize, act, preLn: c.doLayerNormBefore, eps: 1e-5,
      qScale: Math.pow(c.headDim, -0.5), tok: this.embedTokens.weight, pos: this.embedPositions.weight, posOffset: POSITION_OFFSET,
      finalLn: this.finalLayerNorm != null ? { w: this.finalLayerNorm.weight, b: this.finalLayerNorm.bias } : null, head, layers,
    };
  }

  /** HF: cumsum(mask)*mask - 1, the new tokens' slice; without a mask, past..past+q-1. */
  protected override defaultPositionIds(mask: tf.Tensor2D | null, past: number, q: number, b: number): tf.Tensor2D {
    if (!mask) return arangePositions(b, q, past);
    const pos = tf.sub(tf.mul(tf.cumsum(mask, 1), mask), 1); // [b, past + q]
    return tf.cast(tf.slice(pos, [0, past], [b, q]), 'int32') as tf.Tensor2D; // [b, q]
  }

  /** OPT's generate: cumsum(mask) - 1, with padding positions at -1 (what its forward computes from the mask). */
  override generationPositionIds(mask: number[][]): number[][] {
    return mask.map((row) => {
      let n = 0;
      return row.map((m) => (m ? ++n - 1 : -1));
    });
  }

  protected override checkLength(totalLen: number): void {
    if (totalLen > this.config.maxPositions) {
      throw new Error(
        `sequence of ${totalLen} tokens is longer than OPT's max_position_embeddings (${this.config.maxPositions}) in config.json; ` +
          'truncate the input (e.g. --max_seq_len) or lower max_new_tokens',
      );
    }
  }

  protected override positionRange(): [number, number] {
    return [-POSITION_OFFSET, this.config.maxPositions];
  }

  protected override layerDropRate(): number {
    return this.config.layerdrop;
  }
}

export const optArchitecture: Architecture<OptConfig> = {
  modelType: 'opt',
  hfClassName: 'OPTForCausalLM',
  basePrefix: 'model.',
  embeddingKey: 'model.decoder.embed_tokens.weight',
  parseConfig: parseOptConfig,
  build: (config, source, opts) => new OptForCausalLM(config, source, opts),
};
