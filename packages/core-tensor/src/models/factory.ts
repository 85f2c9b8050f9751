// Builds named modules (Linear, norms, embeddings) on a ParamStore, so architectures read like HF's __init__.
import type * as tf from '@tensorflow/tfjs';
import { Embedding } from './embedding';
import { Linear, type HfLinearLayout } from './linear';
import { LayerNorm, RMSNorm } from './norms';
import type { ParamStore } from './params';

export class ModuleFactory {
  /** Every linear layer by HF module name, in creation (checkpoint) order. */
  readonly linears = new Map<string, Linear>();
  /** Every embedding table by HF module name, in creation order (the token embedding first in every architecture). */
  readonly embeddings = new Map<string, Embedding>();

  constructor(readonly store: ParamStore) {}

  /** nn.Linear (HF weight [out, in]) or GPT-2 Conv1D (HF weight [in, out]); kept as [in, out] either way. */
  linear(name: string, inFeatures: number, outFeatures: number, bias: boolean, layout: HfLinearLayout = 'linear'): Linear {
    const key = `${name}.weight`;
    const weight = this.store.wantsBf16(key, 'matrix')
      ? this.store.bf16Matrix(key, layout === 'linear' ? [outFeatures, inFeatures] : [inFeatures, outFeatures], 'matrix', layout === 'linear')
      : layout === 'linear'
        ? this.store.transposed(`${name}.weight`, [outFeatures, inFeatures], 'matrix')
        : this.store.plain(`${name}.weight`, [inFeatures, outFeatures], 'matrix');
    const b = bias ? this.store.plain(`${name}.bias`, [outFeatures], 'bias') : null;
    const layer = new Linear(name, weight, b, layout);
    this.linears.set(name, layer);
    return layer;
  }

  layerNorm(name: string, dim: number, eps: number, affine = true): LayerNorm {
    const w = affine ? this.store.plain(`${name}.weight`, [dim], 'norm-weight') : null;
    const b = affine ? this.store.plain(`${name}.bias`, [dim], 'norm-bias') : null;
    return new LayerNorm(name, w, b, eps);
  }

  rmsNorm(name: string, dim: number, eps: number): RMSNorm {
    return new RMSNorm(name, this.store.plain(`${name}.weight`, [dim], 'norm-weight'), eps);
  }

  embedding(name: string, rows: number, dim: number): Embedding {
    const key = `${name}.weight`;
    const table = this.store.wantsBf16(key, 'embedding') ? this.store.bf16Matrix(key, [rows, dim], 'embedding', false) : this.store.plain(key, [rows, dim], 'embedding');
    const e = new Embedding(name, table);
    this.embeddings.set(name, e);
    return e;
  }

  /** Parameters whose names start with `prefix.` (a layer's own weights). */
  paramsUnder(prefix: string): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [name, e] of this.store.entries) if (name.startsWith(`${prefix}.`)) out.set(name, e.variable);
    return out;
  }
}
