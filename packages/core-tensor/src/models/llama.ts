// LLaMA as HF's LlamaForCausalLM: RMSNorm, SwiGLU MLP, rotary positions (rotate_half), GQA/MQA.
import * as tf from '@tensorflow/tfjs';
import { getActivation, type Activation } from './activations';
import { attention, splitHeads } from './attention';
import { NATIVE_ACTIVATIONS } from '../backend/native-ops';
import { canUseNativeAttention } from '../backend/native-attention';
import { canUseNativeLlamaBlocks, nativeLlamaAttentionBlock, nativeLlamaMlpBlock } from '../backend/native-llama-blocks';
import { CausalLM, type BuildOptions } from './causal-lm';
import { parseLlamaConfig, type LlamaConfig } from './config';
import type { Embedding } from './embedding';
import type { ModuleFactory } from './factory';
import type { Linear } from './linear';
import type { RMSNorm } from './norms';
import type { WeightSource } from './params';
import type { Architecture } from './registry';
import { applyRotary, RotaryEmbedding } from './rope';
import type { DecoderLayer, LayerContext, LayerKV } from './types';

class LlamaDecoderLayer implements DecoderLayer {
  readonly name: string;
  private readonly qProj: Linear;
  private readonly kProj: Linear;
  private readonly vProj: Linear;
  private readonly oProj: Linear;
  private readonly gateProj: Linear;
  private readonly upProj: Linear;
  private readonly downProj: Linear;
  private readonly inputLayernorm: RMSNorm;
  private readonly postAttentionLayernorm: RMSNorm;
  private readonly scoreDivisor: number;

  constructor(readonly index: number, private readonly c: LlamaConfig, private readonly f: ModuleFactory, private readonly act: Activation) {
    const n = (this.name = `model.layers.${index}`);
    const d = c.hiddenSize;
    const qDim = c.numHeads * c.headDim;
    const kvDim = c.numKvHeads * c.headDim;
    this.qProj = f.linear(`${n}.self_attn.q_proj`, d, qDim, c.attentionBias);
    this.kProj = f.linear(`${n}.self_attn.k_proj`, d, kvDim, c.attentionBias);
    this.vProj = f.linear(`${n}.self_attn.v_proj`, d, kvDim, c.attentionBias);
    this.oProj = f.linear(`${n}.self_attn.o_proj`, qDim, d, c.attentionBias);
    this.gateProj = f.linear(`${n}.mlp.gate_proj`, d, c.intermediateSize, c.mlpBias);
    this.upProj = f.linear(`${n}.mlp.up_proj`, d, c.intermediateSize, c.mlpBias);
    this.downProj = f.linear(`${n}.mlp.down_proj`, c.intermediateSize, d, c.mlpBias);
    this.inputLayernorm = f.rmsNorm(`${n}.input_layernorm`, d, c.rmsNormEps);
    this.postAttentionLayernorm = f.rmsNorm(`${n}.post_attention_layernorm`, d, c.rmsNormEps);
    this.scoreDivisor = Math.sqrt(c.headDim);
  }

  parameters(): Map<string, tf.Variable> {
    return this.f.paramsUnder(this.name);
  }

  /**
   * The whole layer as two native blocks (backend/native-llama-blocks.ts): no cache, no adapters, no frozen bf16 weights,
   * no attention dropout while training, a native activation; null otherwise (the ops below run).
   */
  private applyBlocks(hidden: tf.Tensor3D, ctx: LayerContext, kv: LayerKV | undefined): tf.Tensor3D | null {
    const c = this.c;
    const { batch: b, queryLen: t } = ctx;
    const act = NATIVE_ACTIVATIONS[c.hiddenAct];
    if (kv != null || ctx.rope == null || act == null || hidden.dtype !== 'float32' || !canUseNativeLlamaBlocks()) return null;
    if (ctx.training && c.attentionDropout > 0) return null;
    const lins = [this.qProj, this.kProj, this.vProj, this.oProj, this.gateProj, this.upProj, this.downProj];
    // A frozen bfloat16 weight (weight16, held outside the tensor heap) keeps the ops below too.
    if (!lins.every((l) => l.adapter == null && (l as { weight16?: unknown }).weight16 == null)) return null;
    if (!canUseNativeAttention(b, t, ctx.maskBias)) return null;
    const d = c.hiddenSize;
    const x = tf.reshape(hidden, [b * t, d]) as tf.Tensor2D; // [b*t, d]
    const cos = tf.reshape(ctx.rope.cos, [b * t, c.headDim]) as tf.Tensor2D; // [b*t, headDim]
    const sin = tf.reshape(ctx.rope.sin, [b * t, c.headDim]) as tf.Tensor2D; // [b*t, headDim]
    const y = nativeLlamaAttentionBlock(x, {
      lnW: this.inputLayernorm.weight, wq: this.qProj.weight, wk: this.kProj.weight, wv: this.vProj.weight, wo: this.oProj.weight,
      bq: this.qProj.bias, bk: this.kProj.bias, bv: this.vProj.bias, bo: this.oProj.bias,
    }, cos, sin, ctx.maskBias, { batch: b, heads: c.numHeads, kvHeads: c.numKvHeads, eps: c.rmsNormEps, divisor: this.scoreDivisor }); // [b*t, d]
    const z = nativeLlamaMlpBlock(y, {
      lnW: this.postAttentionLayernorm.weight, wg: this.gateProj.weight, wu: this.upProj.weight, wd: this.downProj.weight,
      bg: this.gateProj.bias, bu: this.upProj.bias, bd: this.downProj.bias,
    }, { act, eps: c.rmsNormEps });
    return tf.reshape(z, [b, t, d]) as tf.Tensor3D; // [b, t, d]
  }

  apply(hidden: tf.Tensor3D, ctx: LayerContext, kv?: LayerKV): tf.Tensor3D {
    const blocks = this.applyBlocks(hidden, ctx, kv);
    if (blocks != null) return blocks;
    const c = this.c;
    const { batch: b, queryLen: t } = ctx;
    const d = c.hiddenSize;
    if (!ctx.rope) throw new Error('internal: LLaMA layer called without rotary tables');
    let x = tf.reshape(hidden, [b * t, d]); // [b*t, d]
    let h = this.inputLayernorm.apply(x);
    const q = applyRotary(splitHeads(this.qProj.apply(h), b, t, c.numHeads, c.headDim), ctx.rope);
    const k = applyRotary(splitHeads(this.kProj.apply(h), b, t, c.numKvHeads, c.headDim), ctx.rope);
    const v = splitHeads(this.vProj.apply(h), b, t, c.numKvHeads, c.headDim);
    h = this.oProj.apply(attention(q, k, v, ctx, kv, { scoreDivisor: this.scoreDivisor, dropoutRate: c.attentionDropout }));
    x = tf.add(x, h);
    h = this.postAttentionLayernorm.apply(x);
    h = this.downProj.apply(tf.mul(this.gateProj.applyActivated(h, c.hiddenAct, this.act), this.upProj.apply(h)));
    x = tf.add(x, h);
    return tf.reshape(x, [b, t, d]) as tf.Tensor3D; // [b, t, d]
  }
}

export class LlamaForCausalLM extends CausalLM {
  readonly hfClassName = 'LlamaForCausalLM';
  readonly basePrefix = 'model.';
  readonly embedTokens: Embedding;
  readonly norm: RMSNorm;
  readonly rotary: RotaryEmbedding;
  private readonly head: Linear | null;

  constructor(readonly config: LlamaConfig, source: WeightSource, opts: BuildOptions) {
    super(source, opts);
    const c = config;
    const f = this.factory;
    const act = getActivation(c.hiddenAct, 'config.json hidden_act');
    this.embedTokens = f.embedding('model.embed_tokens', c.vocabSize, c.hiddenSize);
    for (let i = 0; i < c.numLayers; i++) this.layers.push(new LlamaDecoderLayer(i, c, f, act));
    this.norm = f.rmsNorm('model.norm', c.hiddenSize, c.rmsNormEps);
    this.head = !c.tieWordEmbeddings && !this.bodyOnly ? f.linear('lm_head', c.hiddenSize, c.vocabSize, false) : null;
    this.rotary = new RotaryEmbedding(c.headDim, c.ropeTheta, c.maxPositions, c.ropeScaling);
  }

  protected embed(ids: tf.Tensor2D, _positionIds: tf.Tensor2D, _ctx: LayerContext): tf.Tensor3D {
    return this.embedTokens.apply(ids) as tf.Tensor3D; // [b, t, hidden]
  }

  protected override ropeFor(positionIds: tf.Tensor2D, totalLen: number): LayerContext['rope'] {
    return this.rotary.gather(positionIds, totalLen);
  }

  protected finalNorm(hidden: tf.Tensor3D): tf.Tensor3D {
    return this.norm.apply(hidden) as tf.Tensor3D;
  }

  protected tokenEmbeddingWeight(): tf.Variable {
    return this.embedTokens.weight;
  }

  protected untiedHead(): Linear | null {
    return this.head;
  }

  protected override disposeExtra(): void {
    this.rotary.dispose();
  }
}

export const llamaArchitecture: Architecture<LlamaConfig> = {
  modelType: 'llama',
  hfClassName: 'LlamaForCausalLM',
  basePrefix: 'model.',
  embeddingKey: 'model.embed_tokens.weight',
  parseConfig: parseLlamaConfig,
  build: (config, source, opts) => new LlamaForCausalLM(config, source, opts),
};
