// The all-reduce cost model of the data-parallel benchmark: latency/bandwidth fitted to measurements, ring all-reduce over p ranks.

/** t(n) for one message of n bytes between two ranks: alpha + n / beta (seconds, bytes per second). */
export interface LinkModel {
  alpha: number;
  beta: number;
}

/**
 * Fits a link from all-reduce timings of 2 ranks. With 2 ranks a ring all-reduce is one exchange of half the buffer each
 * way, twice (reduce-scatter, all-gather): t = 2·alpha + n/beta, so alpha comes from the smallest message and beta from
 * the largest (it includes the cost of the reduction itself, as the real collective does).
 */
export function fitAllReduce(points: { bytes: number; seconds: number }[], ranks: number): LinkModel {
  if (ranks !== 2 || points.length < 2) throw new Error('fitAllReduce: needs timings of 2 ranks at 2 or more sizes');
  const sorted = points.slice().sort((a, b) => a.bytes - b.bytes);
  const small = sorted[0];
  const large = sorted[sorted.length - 1];
  const alpha = small.seconds / 2;
  const beta = large.bytes / Math.max(1e-9, large.seconds - 2 * alpha);
  return { alpha, beta };
}

/** Ring all-reduce of `bytes` over p ranks: 2(p-1) steps of alpha, 2(p-1)/p of the buffer through each link. */
export function ringAllReduceSeconds(bytes: number, p: number, link: LinkModel): number {
  if (p <= 1) return 0;
  return 2 * (p - 1) * link.alpha + ((2 * (p - 1)) / p) * (bytes / link.beta);
}

export interface ScalingRow {
  ranks: number;
  [key: string]: number;
}

/**
 * Weak scaling (each rank keeps its batch): step = compute + all-reduce of the float32 gradients (no overlap: TensorFlow.js
 * gives every gradient at the end of the backward pass). Efficiency = compute / step; speedup = ranks x efficiency.
 */
export function scalingTable(m: { name: string; params: number; computeS: number }, links: Record<string, LinkModel>, ranks: number[]): { rows: ScalingRow[]; text: string[] } {
  const bytes = m.params * 4;
  const names = Object.keys(links);
  const rows: ScalingRow[] = ranks.map((p) => {
    const row: ScalingRow = { ranks: p };
    for (const n of names) {
      const comm = ringAllReduceSeconds(bytes, p, links[n]);
      row[`${n}_allreduce_s`] = Math.round(comm * 1e4) / 1e4;
      row[`${n}_efficiency`] = Math.round((m.computeS / (m.computeS + comm)) * 1000) / 1000;
      row[`${n}_speedup`] = Math.round(((p * m.computeS) / (m.computeS + comm)) * 10) / 10;
    }
    return row;
  });
  const head = ['ranks', ...names.flatMap((n) => [`${n} all-reduce`, `${n} efficiency`, `${n} speedup`])];
  const cells = rows.map((r) => [String(r.ranks), ...names.flatMap((n) => [fmtSeconds(r[`${n}_allreduce_s`]), `${(100 * r[`${n}_efficiency`]).toFixed(0)}%`, `${r[`${n}_speedup`].toFixed(1)}x`])]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (xs: string[]): string => `| ${xs.map((x, i) => x.padStart(w[i])).join(' | ')} |`;
  const text = [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...cells.map(line)];
  for (const n of names) {
    const limit = rows.find((r) => r[`${n}_allreduce_s`] >= m.computeS);
    // Where a ring's traffic (2·bytes per rank, whatever p) costs as much as the compute: the bandwidth below which the link is the limit.
    const breakEven = (2 * bytes) / m.computeS;
    text.push(
      `${n}: ` + (limit ? `the all-reduce takes longer than the compute from ${limit.ranks} ranks: the interconnect is the limit there` : `the all-reduce stays below the compute up to ${ranks[ranks.length - 1]} ranks`) +
        `; the link would be the limit below ${fmtRate(breakEven)} (2 x ${(bytes / 2 ** 20).toFixed(1)} MiB per step in ${fmtSeconds(m.computeS)}), measured ${fmtRate(links[n].beta)}`,
    );
  }
  return { rows, text };
}

function fmtSeconds(s: number): string {
  return s < 1 ? `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms` : `${s.toFixed(2)} s`;
}

function fmtRate(bps: number): string {
  return bps >= 1e9 ? `${(bps / 1e9).toFixed(2)} GB/s` : `${(bps / 1e6).toFixed(0)} MB/s`;
}
