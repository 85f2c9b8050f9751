// Where DeepSpeed-Chat's pairwise loss looks in each chosen/rejected pair, and where forward_value finds the end score.

/** Token ids on the host: rows of numbers, or a row-major Int32Array with its [rows, cols] shape (a collator batch). */
export type HostIds = number[][] | { readonly data: Int32Array; readonly shape: readonly [number, number] };

/** The indices RewardModel.forward uses for pair i (names as in reward_model.py). */
export interface PairIndices {
  /** Position of the (npb+1)-th pad in the chosen row, or seq_len: one past the chosen end token. */
  cInd: number;
  /** Same for the rejected row (= cInd when the rows are identical). */
  rInd: number;
  /** First position where the rows differ (seq_len-1 for identical rows). */
  divergenceInd: number;
  /** max(cInd, rInd) (seq_len for identical rows); the loss averages over [divergenceInd, endInd). */
  endInd: number;
  /** True when the rows are identical: the term is exactly ln 2. */
  identical: boolean;
}

/**
 * True when [divergenceInd, endInd) is empty: the rows differ only after both padding points. DeepSpeed-Chat then
 * averages an empty slice (NaN loss); rlhfkit lets such a pair contribute 0, and RewardModel.forward refuses a batch
 * in which every pair is empty (the sign of a wrong num_padding_at_beginning or pad id).
 */
export function emptySpan(p: PairIndices): boolean {
  return p.endInd <= p.divergenceInd;
}

/** A [rows, cols] view with row access, whatever the host layout. */
export interface IdRows {
  readonly rows: number;
  readonly cols: number;
  at(r: number, c: number): number;
}

export function idRows(ids: HostIds): IdRows {
  if (Array.isArray(ids)) {
    const cols = ids.length ? ids[0].length : 0;
    ids.forEach((row, i) => {
      if (row.length !== cols) throw new Error(`inputIds: row ${i} has ${row.length} ids but row 0 has ${cols}; pad the batch to one length`);
    });
    return { rows: ids.length, cols, at: (r, c) => ids[r][c] };
  }
  const m = ids as { data: Int32Array; shape: readonly [number, number] };
  const [rows, cols] = m.shape;
  if (m.data.length !== rows * cols) throw new Error(`inputIds: data has ${m.data.length} ids but shape [${rows}, ${cols}] needs ${rows * cols}`);
  return { rows, cols, at: (r, c) => m.data[r * cols + c] };
}

/** Position of the (skip+1)-th occurrence of `pad` in row r from column `from`, or `fallback` when there are fewer. */
function nthPad(ids: IdRows, r: number, pad: number, skip: number, from: number, fallback: number): number {
  let seen = 0;
  for (let c = from; c < ids.cols; c++) {
    if (ids.at(r, c) === pad) {
      if (seen === skip) return c;
      seen++;
    }
  }
  return fallback;
}

/**
 * DeepSpeed-Chat's per-pair indices for a chosen-then-rejected batch [2B, T]. Pair i is row i (chosen) and
 * row B+i (rejected). The pad count includes padding "at the beginning": with OPT and pad = eos = bos = 2,
 * the BOS is pad number 0, so numPaddingAtBeginning = 1 makes the end the first real padding position.
 */
export function pairIndices(ids: HostIds, padTokenId: number, numPaddingAtBeginning: number): PairIndices[] {
  const v = idRows(ids);
  if (v.rows % 2 !== 0 || v.rows === 0) {
    throw new Error(`a reward batch holds B chosen rows then B rejected rows, so its row count must be even and > 0; got ${v.rows}`);
  }
  const bs = v.rows / 2;
  const T = v.cols;
  const out: PairIndices[] = [];
  for (let i = 0; i < bs; i++) {
    const cInd = nthPad(v, i, padTokenId, numPaddingAtBeginning, 0, T);
    let divergence = -1;
    for (let c = 0; c < T; c++) {
      if (v.at(i, c) !== v.at(bs + i, c)) {
        divergence = c;
        break;
      }
    }
    if (divergence < 0) {
      out.push({ cInd, rInd: cInd, divergenceInd: T - 1, endInd: T, identical: true });
      continue;
    }
    const rInd = nthPad(v, bs + i, padTokenId, numPaddingAtBeginning, 0, T);
    out.push({ cInd, rInd, divergenceInd: divergence, endInd: Math.max(cInd, rInd), identical: false });
  }
  return out;
}

/**
 * forward_value's end index per row: promptLength + the first pad at or after promptLength, or seq_len.
 * Only the answer part is searched, so a BOS or left padding inside the prompt is never taken for the end.
 */
export function valueEndIndices(ids: HostIds, padTokenId: number, promptLength: number): number[] {
  const v = idRows(ids);
  if (!(Number.isInteger(promptLength) && promptLength > 1)) {
    throw new Error(`promptLength must be an integer > 1 (DeepSpeed-Chat's forward_value asserts it, to skip the padding at the beginning); got ${promptLength}`);
  }
  return Array.from({ length: v.rows }, (_, r) => nthPad(v, r, padTokenId, 0, promptLength, v.cols));
}

/** Python's index semantics for value[ind - 1]: an end index of 0 reads the last position, as torch does. */
export function scoreColumn(endInd: number, seqLen: number): number {
  return endInd - 1 < 0 ? seqLen + endInd - 1 : endInd - 1;
}
