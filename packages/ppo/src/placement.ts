// Where step 3's roles live: an estimate of each role's tensor memory from its folder, against one heap's limit (wasm: 4 GiB).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  findWeightsFile, FlagError, HOST_MOMENTS_MIN_ELEMENTS, parseModelConfig, readModelConfigs, readSafetensorsHeaderFull, readShardIndex, resolveModelDir,
  tensorHeapInfo, WASM_HEAP_LIMIT_BYTES, type ModelConfig,
} from '@rlhfkit/core-tensor';
import type { PpoConfig } from './config';
import type { RoleName } from './role-factory';

/** One role's estimate (bytes). */
export interface RoleEstimate {
  role: RoleName;
  /** Parameters, gradients, on-heap optimizer moments and activations: what must fit its heap. */
  heap: number;
  /** Frozen bf16 weights and host-side optimizer moments. */
  offHeap: number;
  activations: number;
}

export interface PlacementDecision {
  placement: 'colocated' | 'per_role';
  roles: RoleEstimate[];
  /** The most one heap holds (null: no limit but the machine's memory). */
  limit: number | null;
  /** One line for the log. */
  summary: string;
  /** The estimated tensor memory of all roles in one heap (the roles' own, and the largest activations once). */
  together: number;
}

const GIB = 2 ** 30;
/**
 * The share of a heap that tensors can fill: the wasm allocator's free blocks and fragmentation take the rest (measured:
 * an OPT-350m critic's heap grew to 4010 MiB for a 3373 MiB peak of live tensors, 1.19x).
 */
export const HEAP_USABLE = 0.85;
const gib = (b: number): string => (b < GIB / 10 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / GIB).toFixed(1)} GiB`);

/** The 2-D and other tensors of a model folder (names and element counts) from its weights file's header, without reading data. */
function tensorsOf(dir: string): { name: string; rows: number; cols: number; n: number }[] {
  const { file } = findWeightsFile(dir);
  const headers = file.endsWith('.safetensors.index.json')
    ? [...new Set(readShardIndex(file).weightMap.values())].map((s) => readSafetensorsHeaderFull(path.join(path.dirname(file), s)))
    : file.endsWith('.safetensors') ? [readSafetensorsHeaderFull(file)] : [];
  if (headers.length === 0) {
    // A torch .bin: no header to read cheaply; count its bytes as float16 2-D weights (an overestimate for float32 files is fine).
    const n = Math.floor(fs.statSync(file).size / 2);
    return [{ name: 'weights', rows: n, cols: 1, n }];
  }
  return headers.flatMap((h) => h.entries.map((e) => ({ name: e.name, rows: e.shape[0] ?? 1, cols: e.shape.length === 2 ? e.shape[1] : 1, n: e.shape.reduce((a, b) => a * b, 1) })));
}

function ffnOf(m: ModelConfig): number {
  return m.modelType === 'opt' ? m.ffnDim : m.modelType === 'llama' ? m.intermediateSize : m.nInner;
}

interface Shape {
  total: number;
  matrices: number;
  /** Elements of linear weights LoRA would wrap, and the LoRA parameters it would add. */
  wrapped: number;
  lora: number;
}

function shapeOf(dir: string, moduleName: string, loraDim: number): Shape {
  let [total, matrices, wrapped, lora] = [0, 0, 0, 0];
  for (const t of tensorsOf(dir)) {
    total += t.n;
    if (t.cols > 1) matrices += t.n;
    if (t.cols > 1 && t.name.endsWith('.weight') && t.name.slice(0, -7).includes(moduleName) && loraDim > 0) {
      wrapped += t.n;
      lora += loraDim * (t.rows + t.cols);
    }
  }
  return { total, matrices, wrapped, lora };
}

/**
 * Rough activation bytes: a training pass keeps ~(14·hidden + 3·ffn) floats per token per layer (and LoRA's branches about
 * three more copies of each wrapped layer's output), plus the logits' few copies.
 */
function activations(m: ModelConfig, rows: number, training: boolean, logits: boolean, checkpointing: boolean, lora: boolean): number {
  const perLayer = rows * (14 * m.hiddenSize + 3 * ffnOf(m) + (lora ? 3 * (5 * m.hiddenSize + 2 * ffnOf(m)) : 0)) * 4;
  const layers = training ? (checkpointing ? perLayer + rows * m.hiddenSize * 4 * m.numLayers : perLayer * m.numLayers) : 2 * perLayer;
  return layers + (logits ? rows * m.vocabSize * 4 * (training ? 4 : 2) : 0);
}

function estimate(role: RoleName, c: PpoConfig): RoleEstimate {
  const actorSide = role === 'actor' || role === 'reference';
  const dir = resolveModelDir(actorSide ? c.actorModelNameOrPath : c.criticModelNameOrPath);
  const model = parseModelConfig(readModelConfigs(dir).raw);
  const trained = role === 'actor' || role === 'critic';
  const loraDim = role === 'actor' ? c.actorLoraDim : role === 'critic' ? c.criticLoraDim : 0;
  const s = shapeOf(dir, role === 'actor' ? c.actorLoraModuleName : c.criticLoraModuleName, loraDim);
  const bf16 = c.frozenDtype === 'bf16';
  const frozenBf16 = !bf16 ? 0 : !trained ? s.matrices : loraDim > 0 ? (c.onlyOptimizeLora ? s.matrices : s.wrapped) : 0;
  const trainable = !trained ? 0 : loraDim > 0 ? (c.onlyOptimizeLora ? s.lora : s.total - s.wrapped + s.lora) : s.total;
  const momentsOnHost = trainable > HOST_MOMENTS_MIN_ELEMENTS;
  const copies = role === 'actor' && c.enableEma ? 2 : 1;
  const params = copies * ((s.total - frozenBf16 + s.lora) * 4);
  const optimizer = momentsOnHost ? 0 : trainable * (8 + 12); // moments, and the fused update's fresh outputs
  const rows = Math.max(c.perDeviceGenerationBatchSize * c.nSamplesPerPrompt, c.perDeviceTrainingBatchSize) * (c.maxPromptSeqLen + c.maxAnswerSeqLen);
  const checkpointing = role === 'actor' ? c.actorGradientCheckpointing : c.criticGradientCheckpointing;
  const act = activations(model, rows, trained, actorSide, checkpointing, loraDim > 0);
  return {
    role,
    heap: params + trainable * 4 + optimizer + act,
    offHeap: copies * frozenBf16 * 2 + (momentsOnHost ? trainable * 8 : 0),
    activations: act,
  };
}

/** What would shrink a role's tensor memory, leaving out what the run already does. */
export function memoryAdvice(role: string, c: PpoConfig): string {
  const side = role === 'critic' ? 'critic' : 'actor';
  const out: string[] = [];
  if (c.frozenDtype !== 'bf16') out.push('hold frozen weights as bf16 (--frozen_dtype bf16)');
  if (role === 'actor' || role === 'critic') {
    const lora = side === 'actor' ? c.actorLoraDim : c.criticLoraDim;
    if (lora === 0) out.push(`train it with LoRA (--${side}_lora_dim 128 --only_optimize_lora)`);
    else if (!c.onlyOptimizeLora) out.push('train LoRA alone (--only_optimize_lora)');
    if (!(side === 'actor' ? c.actorGradientCheckpointing : c.criticGradientCheckpointing)) out.push(`recompute its layers in the backward pass (--${side}_gradient_checkpointing)`);
  }
  out.push('or shorten the batches (--per_device_training_batch_size, --per_device_generation_batch_size, --max_answer_seq_len)');
  return out.join(', ');
}

/**
 * --placement resolved: colocated when every role's estimated tensor memory fits one heap (HEAP_USABLE of its limit),
 * else per_role; a placement that cannot fit is a FlagError naming the heap limit and the flag to use.
 */
export function decidePlacement(c: PpoConfig, opts: { limitBytes?: number | null } = {}): PlacementDecision {
  const info = tensorHeapInfo();
  // Before any backend started, the default on a CPU machine is wasm, whose heap stops at 4 GiB.
  const limit = opts.limitBytes !== undefined ? opts.limitBytes : info.backend === 'wasm' || info.backend === 'none' ? WASM_HEAP_LIMIT_BYTES : info.limitBytes;
  const names: RoleName[] = c.advantageEstimator === 'gae' ? ['actor', 'reference', 'critic', 'reward'] : ['actor', 'reference', 'reward'];
  const roles = names.map((r) => estimate(r, c));
  const maxAct = Math.max(...roles.map((r) => r.activations));
  const together = roles.reduce((a, r) => a + r.heap - r.activations, 0) + maxAct;
  const list = roles.map((r) => `${r.role} ${gib(r.heap)}`).join(', ');
  const off = roles.reduce((a, r) => a + r.offHeap, 0);
  const offNote = off > 0 ? `; ${gib(off)} outside the heaps (frozen bf16 weights, host optimizer moments)` : '';
  const fitsOne = limit === null || together <= HEAP_USABLE * limit;
  if (c.placement === 'colocated' || (c.placement === 'auto' && fitsOne)) {
    if (!fitsOne) {
      throw new FlagError(
        `--placement colocated: the step-3 models need about ${gib(together)} of tensor memory in one heap (${list}); with the allocator's ` +
          `overhead that is more than the ${info.backend === 'none' ? 'wasm' : info.backend} backend's ${gib(limit ?? 0)} heap limit holds ` +
          `(about ${gib(HEAP_USABLE * (limit ?? 0))} of tensors). Use --placement per_role: each role then runs in its own ` +
          `worker thread with its own ${gib(limit ?? 0)} heap${c.frozenDtype === 'bf16' ? '' : ' (and --frozen_dtype bf16 halves the frozen weights)'}`,
      );
    }
    return { placement: 'colocated', roles, limit, together, summary: `placement: colocated (one heap; estimated ${gib(together)}${limit ? ` of ${gib(limit)}` : ''}: ${list}${offNote})` };
  }
  const tooBig = limit === null ? [] : roles.filter((r) => r.heap > HEAP_USABLE * limit);
  if (tooBig.length) {
    const r = tooBig[0];
    throw new FlagError(
      `the ${r.role} alone needs about ${gib(r.heap)} of tensor memory, more than one ${info.backend === 'none' ? 'wasm' : info.backend} heap of ${gib(limit ?? 0)} holds (about ${gib(HEAP_USABLE * (limit ?? 0))} of tensors) even in its own worker ` +
        `(--placement per_role). To fit: ${memoryAdvice(r.role, c)}`,
    );
  }
  const why = c.placement === 'auto' ? `auto: one heap would need about ${gib(together)}${limit ? ` of its ${gib(limit)}` : ''}` : '--placement per_role';
  return { placement: 'per_role', roles, limit, together, summary: `placement: per_role (${why}); one worker thread and heap per role, estimated ${list}${offNote}` };
}
