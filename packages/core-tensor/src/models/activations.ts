// Activation functions by their Hugging Face names (ACT2FN), built from ops that have gradients on every backend.
import * as tf from '@tensorflow/tfjs';

export type Activation = (x: tf.Tensor) => tf.Tensor;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

// x*x*x rather than pow(x, 3): pow is far slower on wasm (stack findings §3).
function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), SQRT_2_OVER_PI);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

const ACTIVATIONS: Record<string, Activation> = {
  relu: (x) => tf.relu(x),
  gelu: geluErf,
  gelu_new: geluTanh,
  gelu_pytorch_tanh: geluTanh,
  gelu_fast: geluTanh,
  quick_gelu: (x) => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))),
  silu,
  swish: silu,
  tanh: (x) => tf.tanh(x),
  sigmoid: (x) => tf.sigmoid(x),
};

/** The activation HF calls `name`; `where` names the config file and key for the error. */
export function getActivation(name: string, where: string): Activation {
  const f = ACTIVATIONS[name];
  if (!f) {
    throw new Error(`${where}: activation '${name}' is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  }
  return f;
}
