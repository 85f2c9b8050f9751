// Parameter bookkeeping: where weights come from (checkpoint or random init) and HF layout <-> internal layout.
import * as tf from '@tensorflow/tfjs';
import { Bf16Matrix } from '../backend/bf16-weights';
import { Rng } from '../rng';

/** What a parameter is, so a random initialiser can choose zeros, ones or noise. */
export type ParamKind = 'matrix' | 'embedding' | 'bias' | 'norm-weight' | 'norm-bias';

/** Supplies a parameter's values in HF layout (row-major, HF shape). */
export interface WeightSource {
  take(name: string, hfShape: number[], kind: ParamKind): Float32Array;
}

/** HF-style init: matrices and embeddings ~ N(0, std), biases 0, norm gains 1 (OPT/GPT-2/LLaMA _init_weights). */
export class RandomWeightSource implements WeightSource {
  private readonly rng: Rng;
  constructor(seed: number, private readonly std: number) {
    this.rng = new Rng(seed);
  }

  take(_name: string, hfShape: number[], kind: ParamKind): Float32Array {
    const out = new Float32Array(hfShape.reduce((a, b) => a * b, 1));
    if (kind === 'norm-weight') out.fill(1);
    else if (kind === 'matrix' || kind === 'embedding') this.rng.fillNormal(out, 0, this.std);
    return out;
  }
}

/** How a parameter is stored inside rlhfkit relative to its HF tensor. */
export interface ParamEntry {
  variable: tf.Variable;
  /** The shape of the tensor in the HF checkpoint. */
  hfShape: number[];
  /** true when the variable holds the transpose of the HF 2-D tensor (nn.Linear weights kept as [in, out]). */
  transposed: boolean;
}

/** A frozen matrix or embedding held as bfloat16 outside the tensor heap (see ParamStoreOptions.bf16). */
export interface Bf16Entry {
  matrix: Bf16Matrix;
  hfShape: number[];
  /** true when the matrix holds the transpose of the HF 2-D tensor (nn.Linear weights kept as [in, out]). */
  transposed: boolean;
}

/** Which parameters a model keeps as frozen bfloat16 (HF name and kind); only 'matrix' and 'embedding' kinds are asked. */
export type Bf16Selector = (name: string, kind: ParamKind) => boolean;

/** Row-major transpose of a [rows, cols] matrix. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c];
  }
  return out;
}

/** Creates the model's variables from a WeightSource and remembers each one's HF name and layout. */
export class ParamStore {
  readonly entries = new Map<string, ParamEntry>();
  /** Frozen bfloat16 matrices and embeddings (no tf.Variable; not in `entries`). */
  readonly bf16Entries = new Map<string, Bf16Entry>();

  constructor(private readonly source: WeightSource, private readonly trainable: boolean, private readonly bf16: Bf16Selector | null = null) {}

  /** Whether this 2-D parameter is to be held as frozen bfloat16. */
  wantsBf16(name: string, kind: ParamKind): boolean {
    return this.bf16 != null && (kind === 'matrix' || kind === 'embedding') && this.bf16(name, kind);
  }

  /** A frozen bfloat16 2-D parameter; `transposed` keeps an nn.Linear weight as [in, out]. Its values are rounded once, here. */
  bf16Matrix(name: string, hfShape: [number, number], kind: ParamKind, transposed: boolean): Bf16Matrix {
    const data = this.take(name, hfShape, kind);
    const [r, c] = hfShape;
    const matrix = transposed ? Bf16Matrix.fromFloat32(transpose2d(data, r, c), c, r) : Bf16Matrix.fromFloat32(data, r, c);
    this.bf16Entries.set(name, { matrix, hfShape: hfShape.slice(), transposed });
    return matrix;
  }

  /** A parameter stored exactly as in HF. */
  plain(name: string, hfShape: number[], kind: ParamKind): tf.Variable {
    return this.create(name, hfShape, kind, false);
  }

  /** A 2-D parameter HF stores as [out, in] (nn.Linear), kept here as [in, out] so forward needs no transpose. */
  transposed(name: string, hfShape: [number, number], kind: ParamKind): tf.Variable {
    return this.create(name, hfShape, kind, true);
  }

  /** A new parameter's values from the source (HF layout). */
  private take(name: string, hfShape: number[], kind: ParamKind): Float32Array {
    if (this.entries.has(name) || this.bf16Entries.has(name)) throw new Error(`internal: parameter '${name}' created twice`);
    try {
      return this.source.take(name, hfShape, kind);
    } catch (e) {
      // A half-built model is unreachable by the caller: free what was made so a failed load leaks nothing.
      this.dispose();
      throw e;
    }
  }

  private create(name: string, hfShape: number[], kind: ParamKind, transposed: boolean): tf.Variable {
    let data = this.take(name, hfShape, kind);
    let shape = hfShape;
    if (transposed) {
      data = transpose2d(data, hfShape[0], hfShape[1]);
      shape = [hfShape[1], hfShape[0]];
    }
    const init = tf.tensor(data, shape, 'float32');
    const variable = tf.variable(init, this.trainable);
    init.dispose();
    this.entries.set(name, { variable, hfShape: hfShape.slice(), transposed });
    return variable;
  }

  dispose(): void {
    for (const e of this.entries.values()) e.variable.dispose();
    this.entries.clear();
    this.bf16Entries.clear();
  }
}

/** A bfloat16 parameter back in HF layout, widened to float32 (host copy). */
export function bf16ToHfLayout(entry: Bf16Entry): Float32Array {
  return entry.matrix.toFloat32(entry.transposed);
}

/** Reads a parameter back in HF layout (host copy). */
export function toHfLayout(entry: ParamEntry): Float32Array {
  const data = entry.variable.dataSync() as Float32Array;
  return entry.transposed ? transpose2d(data, entry.hfShape[1], entry.hfShape[0]) : new Float32Array(data);
}
