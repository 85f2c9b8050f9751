// Gradient checkpointing: each decoder layer runs in tf.customGrad, keeps only its input and recomputes in backward.
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '../models/causal-lm';
import type { DecoderLayer, LayerContext, LayerKV, LayerRunner } from '../models/types';

const enabledModels = new WeakSet<CausalLM>();

/**
 * Every variable a layer's apply() reads: its own parameters plus the adapter variables (LoRA) of the linear layers
 * inside it. They must be explicit customGrad inputs: tfjs does not differentiate variables captured inside one.
 */
export function layerVariables(model: CausalLM, layer: DecoderLayer): tf.Variable[] {
  const out = [...layer.parameters().values()];
  const prefix = `${layer.name}.`;
  for (const [name, lin] of model.linearLayers()) {
    if (!name.startsWith(prefix)) continue;
    for (const v of lin.adapter?.parameters?.().values() ?? []) out.push(v);
  }
  return out;
}

/** The tensors a LayerContext holds; the forward's tidy frees them, so backward needs saved copies. */
function contextTensors(ctx: LayerContext): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  if (ctx.maskBias) out.push(ctx.maskBias);
  if (ctx.rope) out.push(ctx.rope.cos, ctx.rope.sin);
  return out;
}

/** ctx with its tensors replaced by the saved ones (same order as contextTensors). */
function rebuildContext(ctx: LayerContext, saved: tf.Tensor[]): LayerContext {
  let i = 0;
  const maskBias = ctx.maskBias ? (saved[i++] as tf.Tensor4D) : null;
  const rope = ctx.rope ? { cos: saved[i++] as tf.Tensor4D, sin: saved[i++] as tf.Tensor4D } : null;
  return { ...ctx, maskBias, rope };
}

/**
 * A LayerRunner that checkpoints every layer while gradients are being recorded and no KV cache is in use
 * (training; also eval-mode gradient checks). Otherwise the layer runs plainly, so inference pays nothing.
 *
 * Forward: the layer runs inside tf.customGrad, whose forward is untaped and tidied, so only the saved layer input
 * (plus maskBias/rope) outlives it. Backward: the layer is recomputed under a fresh tape with the dropout RNG put
 * back to its forward-time state (same masks), and its gradients for the input and for every trainable variable it
 * reads are returned. Frozen variables (trainable = false) are not customGrad inputs and get no gradient, which is
 * what tf.variableGrads gives them anyway.
 */
export function checkpointedLayerRunner(model: CausalLM): LayerRunner {
  return (layer: DecoderLayer, hidden: tf.Tensor3D, ctx: LayerContext, kv: LayerKV | undefined): tf.Tensor3D => {
    const engine = tf.engine();
    if (kv || !engine.isTapeOn()) return layer.apply(hidden, ctx, kv);
    const vars = layerVariables(model, layer).filter((v) => v.trainable);
    const rngAtForward = model.rng.getState();
    const ctxTensors = contextTensors(ctx);
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const h = args[0] as tf.Tensor3D;
      const save = args[args.length - 1] as tf.GradSaveFunc;
      save([h, ...ctxTensors]);
      const value = layer.apply(h, ctx);
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [h0, ...rest] = saved;
        const ctx0 = rebuildContext(ctx, rest);
        const xs: tf.Tensor[] = [h0, ...vars];
        // A nested gradients() at tape depth 0 replaces (then nulls) the engine's active tape, which the outer
        // backward pass still needs for its final clean-up: keep it and put it back.
        const outerTape = engine.state.activeTape;
        const rngNow = model.rng.getState();
        model.rng.setState(rngAtForward);
        try {
          const res = engine.gradients(() => layer.apply(h0 as tf.Tensor3D, ctx0), xs, dy as tf.Tensor3D, true);
          res.value.dispose();
          return res.grads.map((g, i) => g ?? tf.zerosLike(xs[i]));
        } finally {
          engine.state.activeTape = outerTape;
          model.rng.setState(rngNow);
        }
      };
      return { value, gradFunc };
    });
    return op(hidden, ...vars) as tf.Tensor3D;
  };
}

/** Routes the model's layers through checkpointedLayerRunner (HF's gradient_checkpointing_enable). */
export function enableGradientCheckpointing(model: CausalLM): void {
  model.setLayerRunner(checkpointedLayerRunner(model));
  enabledModels.add(model);
}

/** Restores plain layer calls. */
export function disableGradientCheckpointing(model: CausalLM): void {
  model.setLayerRunner(null);
  enabledModels.delete(model);
}

/** true after enableGradientCheckpointing(model) (and no disable since). */
export function isGradientCheckpointingEnabled(model: CausalLM): boolean {
  return enabledModels.has(model);
}
