// DeepSpeed-Chat's `--data_split` semantics: normalised fractions, Python-rounded boundaries, a seeded permutation cut in chunks.
import { DataError } from './errors';
import { getShuffleIdx } from './np-random';

/**
 * Python 3's `round(x)` for a double: round half to even. The products being rounded are exact doubles,
 * so comparing the fractional part with exactly 0.5 reproduces CPython's decision.
 */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Parse a `--data_split` string ("2,4,4") into numbers. `parts` is how many chunks the caller needs
 * (3 for the user's flag; DeepSpeed-Chat also uses "9,1" and "10,0,0" internally).
 */
export function parseDataSplit(dataSplit: string, parts = 3): number[] {
  const fields = String(dataSplit).split(',');
  const example = parts === 3 ? '"2,4,4"' : `${parts} comma-separated numbers`;
  if (fields.length !== parts) {
    throw new DataError(
      `--data_split '${dataSplit}' has ${fields.length} part(s); expected ${parts} comma-separated proportions (for example ${example}: one per training phase).`,
    );
  }
  const values = fields.map((f) => {
    const t = f.trim();
    const v = /^[+]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : NaN;
    if (!Number.isFinite(v) || v < 0) {
      throw new DataError(`--data_split '${dataSplit}': '${f}' is not a non-negative number; expected something like ${example}.`);
    }
    return v;
  });
  if (values.reduce((a, b) => a + b, 0) <= 0) {
    throw new DataError(`--data_split '${dataSplit}' sums to 0; at least one proportion must be positive.`);
  }
  return values;
}

/**
 * Chunk boundaries exactly as `get_raw_dataset_split_index` computes them: each fraction times the size,
 * Python-rounded, accumulated; any rounding surplus or deficit is then taken out of every boundary after
 * the first, so the first chunk absorbs it.
 */
export function splitBoundaries(dataSplit: string | number[], dataSize: number): number[] {
  const splits = typeof dataSplit === 'string' ? parseDataSplit(dataSplit, dataSplit.split(',').length) : dataSplit;
  let sum = 0;
  for (const s of splits) sum += s; // left-to-right, as Python's sum() over floats
  const fractions = splits.map((s) => s / sum);
  const bounds = [0];
  fractions.forEach((f, i) => bounds.push(bounds[i] + pyRound(f * dataSize)));
  const diff = bounds[bounds.length - 1] - dataSize;
  for (let i = 1; i < bounds.length; i++) bounds[i] -= diff;
  return bounds;
}

/**
 * The row indices of chunk `splitIndex` of a dataset of `dataSize` rows: DeepSpeed-Chat's
 * `get_raw_dataset_split_index`. It caches these in `.npy` files named by dataset, seed and split but not by
 * size (a stale file survives a changed dataset); they are cheap to recompute, so we always recompute.
 */
export function getSplitIndex(seed: number, dataSplit: string | number[], splitIndex: number, dataSize: number): number[] {
  const bounds = splitBoundaries(dataSplit, dataSize);
  if (splitIndex < 0 || splitIndex >= bounds.length - 1) {
    throw new DataError(`split chunk ${splitIndex} does not exist in a ${bounds.length - 1}-way split '${String(dataSplit)}'.`);
  }
  const shuffled = getShuffleIdx(seed, dataSize);
  return shuffled.slice(bounds[splitIndex], bounds[splitIndex + 1]);
}
