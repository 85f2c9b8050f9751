// CausalLM: the architecture-independent half of every model (forward plumbing, head, cache, params, save).
import * as tf from '@tensorflow/tfjs';
import { bf16MatMul, type Bf16Matrix } from '../backend/bf16-weights';
import { lazyTensor, type HostTensor, type StateDict, type TensorToWrite } from '../io/host-tensor';
import { Rng } from '../rng';
import type { ModelConfig, RawConfig } from './config';
import { ModuleFactory } from './factory';
import { canUseNativeDecode, nativeDecodeStep, type DecodeSpec } from '../backend/native-decode';
import { growInPlace, KVCache } from './kv-cache';
import type { Linear } from './linear';
import { arangePositions, causalBias, checkRange, combineBias, paddingBias, toIntTensor, toMaskTensor } from './masks';
import { bf16ToHfLayout, ParamStore, toHfLayout, type Bf16Selector, type WeightSource } from './params';
import type { CausalLMOutputs, DecoderLayer, ForwardInputs, LayerContext, LayerRunner } from './types';
import { generate, type GenerateInput, type GenerateOutput } from '../generation/generate';
import type { GenerationConfig } from '../generation/generation-config';
import { saveModel, type SaveOptions } from './save';

/** Options every architecture's constructor takes. */
export interface BuildOptions {
  /** The config.json object as read (kept verbatim as rawConfig and written back on save). */
  rawConfig: RawConfig;
  /** generation_config.json as read, or null. */
  generationConfig?: RawConfig | null;
  /** Variables start trainable (default true); see setTrainable. */
  trainable?: boolean;
  /** Build the body without the LM head (reward models, critics): an untied lm_head is neither needed nor made. */
  bodyOnly?: boolean;
  /** Seed of the dropout RNG (default 0). */
  seed?: number;
  /**
   * Parameters to hold as frozen bfloat16 outside the tensor heap (matrices and embeddings the selector picks): half the
   * memory, products widen them as they pack them. They are not in namedParameters(); stateDict() widens them back.
   */
  bf16Weights?: Bf16Selector | null;
}

export interface ForwardOptions {
  /** Incremental decoding: keys/values of past tokens; this call appends its own (see createCache). */
  cache?: KVCache;
}

export interface OutputsOptions extends ForwardOptions {
  /** Also return every layer's hidden state (HF output_hidden_states). */
  outputHiddenStates?: boolean;
  /** Compute logits (default true). */
  logits?: boolean;
}

export abstract class CausalLM {
  abstract readonly config: ModelConfig;
  /** HF class written to config.json `architectures` on save, e.g. OPTForCausalLM. */
  abstract readonly hfClassName: string;
  /** HF base_model_prefix plus a dot: `model.` (OPT, LLaMA) or `transformer.` (GPT-2). */
  abstract readonly basePrefix: string;

  readonly rawConfig: RawConfig;
  generationConfig: RawConfig | null;
  readonly layers: DecoderLayer[] = [];
  /** Checkpoint keys this model did not use (e.g. a reward model's `v_head.weight`), in file order. */
  unexpectedKeys: string[] = [];
  /** The tensors behind unexpectedKeys, kept on the host for whoever wants them (the reward model's head). */
  extraTensors: StateDict = new Map();
  /** Dropout (and OPT's layerdrop) run only while this is true; see train()/eval(). */
  training = false;
  /** Dropout randomness; re-seed with `model.rng = new Rng(seed)` for reproducible training. */
  rng: Rng;
  readonly bodyOnly: boolean;

  protected readonly store: ParamStore;
  protected readonly factory: ModuleFactory;
  private layerRunner: LayerRunner | null = null;

  constructor(source: WeightSource, opts: BuildOptions) {
    this.rawConfig = opts.rawConfig;
    this.generationConfig = opts.generationConfig ?? null;
    this.bodyOnly = opts.bodyOnly ?? false;
    this.rng = new Rng(opts.seed ?? 0);
    this.store = new ParamStore(source, opts.trainable ?? true, opts.bf16Weights ?? null);
    this.factory = new ModuleFactory(this.store);
  }

  // ---- architecture hooks --------------------------------------------------------------------------------

  /** ids [b, q] int32, HF position ids [b, q] int32 -> hidden [b, q, hidden] (embeddings, positions, dropout). */
  protected abstract embed(ids: tf.Tensor2D, positionIds: tf.Tensor2D, ctx: LayerContext): tf.Tensor3D;
  /** Last layer output -> HF last_hidden_state (final norm, OPT's project_out). */
  protected abstract finalNorm(hidden: tf.Tensor3D): tf.Tensor3D;
  /** Token embedding [vocab, dim] (the LM head when tied). */
  protected abstract tokenEmbeddingWeight(): tf.Variable;
  /** The untied LM head, or null when tied or bodyOnly. */
  protected abstract untiedHead(): Linear | null;
  /**
   * HF forward()'s position ids when none are passed (mask is float32 [b, past+q] or null). HF's default (GPT-2,
   * LLaMA): past..past+q-1 whatever the mask (generate passes mask-derived ids explicitly).
   */
  protected defaultPositionIds(_mask: tf.Tensor2D | null, past: number, q: number, b: number): tf.Tensor2D {
    return arangePositions(b, q, past);
  }
  /** Position ids HF generate() uses for a (left-padded) prompt with this 0/1 mask; HF's default: cumsum(mask) - 1, padding positions set to 1. */
  generationPositionIds(mask: number[][]): number[][] {
    return mask.map((row) => {
      let n = 0;
      return row.map((m) => (m ? ++n - 1 : 1));
    });
  }
  /** Rotary tables for these positions (LLaMA); null for learned positions. */
  protected ropeFor(_positionIds: tf.Tensor2D, _totalLen: number): LayerContext['rope'] {
    return null;
  }
  /** Throws a clear error when a sequence is longer than the position table. */
  protected checkLength(_totalLen: number): void {}
  /** Valid HF position ids [lo, hi) (OPT: -2.. because of its offset of 2; LLaMA: unbounded above). */
  protected positionRange(): [number, number] {
    return [0, Number.MAX_SAFE_INTEGER];
  }
  /**
   * The longest sequence (prompt + generated, padding included) the model can run: its position table's size for
   * learned positions (OPT, GPT-2); Number.MAX_SAFE_INTEGER for rotary positions (LLaMA), which have no table.
   */
  maxSequenceLength(): number {
    return this.positionRange()[1];
  }
  /** Chance of skipping a whole layer while training (OPT layerdrop). */
  protected layerDropRate(): number {
    return 0;
  }
  /** Frees architecture-owned tensors that are not parameters (rotary tables). */
  protected disposeExtra(): void {}
  /**
   * The model as the native decoding step reads it (backend/native-decode.ts), or null when that step cannot run
   * it (an architecture without one, adapters on its linear layers, projections it lacks).
   */
  protected decodeSpec(): DecodeSpec | null {
    return null;
  }

  // ---- forward -------------------------------------------------------------------------------------------

  /** Logits [batch, seq, vocab] (caller disposes). */
  forward(inputs: ForwardInputs, opts: ForwardOptions = {}): tf.Tensor3D {
    const out = this.forwardOutputs(inputs, { ...opts, logits: true });
    out.lastHiddenState.dispose();
    return out.logits as tf.Tensor3D;
  }

  /** HF AutoModel's last_hidden_state [batch, seq, dim] (caller disposes); feed it to lmHead() or a value head. */
  forwardHidden(inputs: ForwardInputs, opts: ForwardOptions = {}): tf.Tensor3D {
    return this.forwardOutputs(inputs, { ...opts, logits: false }).lastHiddenState;
  }

  /** Logits, last hidden state and (optionally) all hidden states in one pass; the caller disposes them all. */
  forwardOutputs(inputs: ForwardInputs, opts: OutputsOptions = {}): CausalLMOutputs {
    const cache = opts.cache;
    const wantLogits = opts.logits !== false;
    const wantHidden = opts.outputHiddenStates === true;
    checkRange(inputs.inputIds, 0, this.config.vocabSize, 'inputIds', `the model's vocab_size is ${this.config.vocabSize}; use the model's own tokenizer`);
    if (inputs.positionIds !== undefined) {
      const [lo, hi] = this.positionRange();
      checkRange(inputs.positionIds, lo, hi, 'positionIds', 'the position table of config.json is smaller');
    }
    const tensors = tf.tidy(() => {
      const ids = toIntTensor(inputs.inputIds, 'inputIds');
      const [b, q] = ids.shape;
      const past = cache?.length ?? 0;
      if (cache && cache.batch !== null && cache.batch !== b) {
        throw new Error(`inputIds has batch ${b} but the cache holds batch ${cache.batch}; use a fresh createCache() per batch`);
      }
      let mask: tf.Tensor2D | null = null;
      if (inputs.attentionMask !== undefined) {
        mask = toMaskTensor(inputs.attentionMask, 'attentionMask');
        if (mask.shape[0] !== b || mask.shape[1] !== past + q) {
          throw new Error(
            `attentionMask has shape [${mask.shape}] but it must be [batch, cached + new] = [${b}, ${past + q}] ` +
              `(${past} cached tokens, inputIds [${b}, ${q}])`,
          );
        }
      } else if (cache?.mask) {
        mask = tf.concat([cache.mask, tf.ones([b, q])], 1) as tf.Tensor2D; // [b, past + q]
      }
      let positions: tf.Tensor2D;
      if (inputs.positionIds !== undefined) {
        positions = toIntTensor(inputs.positionIds, 'positionIds');
        if (positions.shape[0] !== b || positions.shape[1] !== q) {
          throw new Error(`positionIds has shape [${positions.shape}] but inputIds has [${b}, ${q}]; they must match`);
        }
      } else {
        positions = this.defaultPositionIds(mask, past, q, b);
      }
      this.checkLength(past + q);
      const bias = combineBias(causalBias(q, past), mask ? paddingBias(mask) : null);
      const hidden: tf.Tensor3D[] | null = wantHidden ? [] : null;
      const last = this.runBody(ids, positions, bias, past, cache, hidden);
      const logits = wantLogits ? this.lmHead(last) : null;
      if (cache) {
        cache.length = past + q;
        cache.batch = b;
        if (mask) cache.setMask(mask);
      }
      return { last, logits: logits ? [logits] : [], hidden: hidden ?? [] };
    });
    return {
      lastHiddenState: tensors.last,
      logits: tensors.logits[0] ?? null,
      hiddenStates: wantHidden ? tensors.hidden : null,
    };
  }

  /** hidden [batch, seq, dim] -> logits [batch, seq, vocab]; headT is a precomputed [dim, vocab] tied head. */
  lmHead(hidden: tf.Tensor3D, headT?: tf.Tensor2D | null): tf.Tensor3D {
    if (!this.hasLmHead) {
      throw new Error(`${this.hfClassName} was loaded with bodyOnly and its lm_head is untied, so it has no LM head; load it without bodyOnly`);
    }
    return tf.tidy(() => {
      const [b, t, d] = hidden.shape;
      const h2 = tf.reshape(hidden, [b * t, d]) as tf.Tensor2D; // [b*t, dim]
      const head = this.untiedHead();
      const tied16 = head ? null : this.tiedHead16();
      let logits: tf.Tensor2D;
      if (head) logits = head.apply(h2) as tf.Tensor2D;
      else if (tied16) logits = bf16MatMul(h2, tied16, true); // h·Eᵀ on the frozen bf16 table [b*t, vocab]
      else if (headT) logits = tf.matMul(h2, headT); // [b*t, vocab]
      // h·Eᵀ by the transposeB flag: its gradients are then dy·E (no transpose at all) and dyᵀ·h, instead of
      // two more transposes of the [vocab, dim] table and a transposed product (measured ~30% faster).
      else logits = tf.matMul(h2, this.tokenEmbeddingWeight(), false, true); // [b*t, vocab]
      return tf.reshape(logits, [b, t, this.config.vocabSize]) as tf.Tensor3D; // [b, t, vocab]
    });
  }

  get hasLmHead(): boolean {
    return this.config.tieWordEmbeddings || this.untiedHead() !== null;
  }

  /** The tied head as [dim, vocab] (a new tensor the caller disposes), or null when the head is untied. */
  headWeightT(): tf.Tensor2D | null {
    if (!this.config.tieWordEmbeddings || this.tiedHead16()) return null;
    return tf.transpose(this.tokenEmbeddingWeight()) as tf.Tensor2D;
  }

  /**
   * One decoding call for generate(): ids [b, q], HF position ids [b, q], padding bias [b, 1, 1, past+q] (or null)
   * -> logits of the last position [b, vocab]. The cache must be this model's (createCache()).
   */
  forwardStep(
    ids: tf.Tensor2D,
    positionIds: tf.Tensor2D,
    paddingBiasRows: tf.Tensor4D | null,
    cache: KVCache,
    headT: tf.Tensor2D | null,
  ): tf.Tensor2D {
    const native = this.nativeStep(ids, positionIds, paddingBiasRows, cache);
    if (native != null) return native;
    return tf.tidy(() => {
      const [b, q] = ids.shape;
      const past = cache.length;
      this.checkLength(past + q);
      const bias = combineBias(causalBias(q, past), paddingBiasRows);
      const last = this.runBody(ids, positionIds, bias, past, cache, null);
      const d = last.shape[2];
      const lastTok = tf.slice(last, [0, q - 1, 0], [b, 1, d]) as tf.Tensor3D; // [b, 1, dim]
      const logits = this.lmHead(lastTok, headT); // [b, 1, vocab]
      cache.length = past + q;
      cache.batch = b;
      return tf.reshape(logits, [b, this.config.vocabSize]) as tf.Tensor2D; // [b, vocab]
    });
  }

  /**
   * One token per row as a single native call (wasm with the native kernels, eval mode, an architecture that has a
   * decodeSpec): the same logits as the layers below, within float32 rounding; null when it does not apply.
   */
  private nativeStep(ids: tf.Tensor2D, positionIds: tf.Tensor2D, paddingBiasRows: tf.Tensor4D | null, cache: KVCache): tf.Tensor2D | null {
    const [b, q] = ids.shape;
    // The native step packs float32 weights once per cache; frozen bf16 weights go through the layers (widened per product).
    if (this.store.bf16Entries.size > 0) return null;
    if (q !== 1 || this.training || cache.length === 0 || (cache.batch !== null && cache.batch !== b) || !canUseNativeDecode()) return null;
    const spec = this.decodeSpec();
    if (spec == null) return null;
    const past = cache.length;
    this.checkLength(past + 1);
    const logits = nativeDecodeStep(spec, cache.nativeDecode, cache.layers, past, growInPlace, ids, positionIds, paddingBiasRows);
    if (logits == null) return null;
    for (const kv of cache.layers) kv.length = past + 1;
    cache.length = past + 1;
    cache.batch = b;
    return logits;
  }

  private runBody(
    ids: tf.Tensor2D,
    positions: tf.Tensor2D,
    maskBias: tf.Tensor4D | null,
    past: number,
    cache: KVCache | undefined,
    hiddenStates: tf.Tensor3D[] | null,
  ): tf.Tensor3D {
    const [b, q] = ids.shape;
    const ctx: LayerContext = {
      batch: b,
      queryLen: q,
      pastLen: past,
      maskBias,
      rope: this.ropeFor(positions, past + q),
      training: this.training,
      dropout: (x, rate) => (this.training && rate > 0 ? tf.dropout(x, rate, undefined, this.rng.nextU32()) : x),
    };
    let h = this.embed(ids, positions, ctx);
    const dropRate = this.training && !cache ? this.layerDropRate() : 0;
    for (let i = 0; i < this.layers.length; i++) {
      hiddenStates?.push(h);
      if (dropRate > 0 && this.rng.random() < dropRate) continue;
      const layer = this.layers[i];
      const kv = cache?.layers[i];
      h = this.layerRunner ? this.layerRunner(layer, h, ctx, kv) : layer.apply(h, ctx, kv);
    }
    const final = this.finalNorm(h);
    hiddenStates?.push(final);
    return final;
  }

  /** Routes every layer call through `runner` (gradient checkpointing); null restores plain calls. */
  setLayerRunner(runner: LayerRunner | null): void {
    this.layerRunner = runner;
  }

  /** An empty KV cache for forward({..}, {cache}) / forwardStep; dispose it when done. */
  createCache(): KVCache {
    return new KVCache(this.layers.length);
  }

  /** KV-cache decoding (greedy by default; see GenerationConfig). */
  generate(input: GenerateInput, config: GenerationConfig = {}): Promise<GenerateOutput> {
    return generate(this, input, config);
  }

  // ---- parameters ----------------------------------------------------------------------------------------

  /**
   * Every parameter by its HF name. Layout: as in the HF checkpoint, EXCEPT nn.Linear weights, which are held
   * transposed as [in, out] (GPT-2's Conv1D weights are [in, out] in HF too, so they are unchanged). Use
   * isTransposed(name) / stateDict() for HF layout. Tied LM heads have no entry of their own. Adapter variables
   * (LoRA, see LinearAdapter.parameters) follow as `<linear>.<name>`; stateDict() and save() leave them out.
   */
  namedParameters(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, e] of this.store.entries) out.set(name, e.variable);
    for (const [name, v] of this.adapterParameters()) out.set(name, v);
    return out;
  }

  /** Variables that adapters on linear layers add, as `<linear>.<name>` (e.g. `...q_proj.lora_right_weight`). */
  private adapterParameters(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [layer, lin] of this.factory.linears) for (const [n, v] of lin.adapter?.parameters?.() ?? []) out.set(`${layer}.${n}`, v);
    return out;
  }

  /** true when namedParameters().get(name) holds the transpose of the HF tensor. */
  isTransposed(name: string): boolean {
    const e = this.store.entries.get(name);
    if (!e && this.adapterParameters().has(name)) return false;
    if (!e) throw new Error(`no parameter named '${name}' in this ${this.hfClassName}`);
    return e.transposed;
  }

  /** Parameters with trainable = true. */
  trainableParameters(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, e] of this.store.entries) if (e.variable.trainable) out.set(name, e.variable);
    for (const [name, v] of this.adapterParameters()) if (v.trainable) out.set(name, v);
    return out;
  }

  /** Sets trainable for every parameter (boolean) or per name (predicate). */
  setTrainable(which: boolean | ((name: string) => boolean)): void {
    const set = (name: string, v: tf.Variable): void => {
      v.trainable = typeof which === 'boolean' ? which : which(name);
    };
    for (const [name, e] of this.store.entries) set(name, e.variable);
    for (const [name, v] of this.adapterParameters()) set(name, v);
  }

  /** Every linear layer by HF module name (the LoRA attachment points); the untied lm_head is included. */
  linearLayers(): Map<string, Linear> {
    return new Map(this.factory.linears);
  }

  numParameters(): number {
    let n = 0;
    for (const e of this.store.entries.values()) n += e.variable.size;
    for (const e of this.store.bf16Entries.values()) n += e.matrix.bits.length;
    return n;
  }

  /** Frozen bfloat16 parameters by HF name (see BuildOptions.bf16Weights); empty for an all-float32 model. */
  bf16Parameters(): Map<string, Bf16Matrix> {
    const out = new Map<string, Bf16Matrix>();
    for (const [name, e] of this.store.bf16Entries) out.set(name, e.matrix);
    return out;
  }

  /** Bytes of the frozen bfloat16 parameters (held outside the tensor heap). */
  bf16Bytes(): number {
    let n = 0;
    for (const e of this.store.bf16Entries.values()) n += e.matrix.bytes;
    return n;
  }

  /** The tied LM head when the token embedding is frozen bfloat16, else null. */
  private tiedHead16(): Bf16Matrix | null {
    if (!this.config.tieWordEmbeddings || this.store.bf16Entries.size === 0) return null;
    // The token embedding: the first table with a row per vocabulary entry (every architecture creates it first).
    for (const e of this.factory.embeddings.values()) if (e.numRows === this.config.vocabSize) return e.weight16;
    return null;
  }

  /** Host copies of every parameter in HF names and layout (tied head left out, as HF saves); bf16 ones widened. */
  stateDict(): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [name, e] of this.store.entries) out.set(name, { dtype: 'F32', shape: e.hfShape.slice(), data: toHfLayout(e) });
    for (const [name, e] of this.store.bf16Entries) out.set(name, { dtype: 'F32', shape: e.hfShape.slice(), data: bf16ToHfLayout(e) });
    return out;
  }

  /**
   * stateDict() for writers: the same names, shapes and values, each read from the model only when a writer reaches it,
   * so a save holds one host copy at a time instead of the whole model's.
   */
  tensorsToWrite(): Map<string, TensorToWrite> {
    const out = new Map<string, TensorToWrite>();
    for (const [name, e] of this.store.entries) out.set(name, lazyTensor(e.hfShape, 'F32', () => toHfLayout(e)));
    for (const [name, e] of this.store.bf16Entries) out.set(name, lazyTensor(e.hfShape, 'F32', () => bf16ToHfLayout(e)));
    return out;
  }

  /** Writes an HF folder (config.json, generation_config.json, model.safetensors); see SaveOptions. */
  save(dir: string, opts: SaveOptions = {}): Promise<void> {
    return saveModel(this, dir, opts);
  }

  train(mode = true): this {
    this.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  dispose(): void {
    for (const lin of this.factory.linears.values()) lin.adapter?.dispose?.();
    this.store.dispose();
    this.disposeExtra();
  }
}
