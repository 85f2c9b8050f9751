// Peak memory per role (or per heap) and in total, for metrics.jsonl and the end-of-run log lines.
import type { MetricValues } from '@rlhfkit/core-tensor';
import type { HeapMemory, PpoEngine } from './engine';

const MB = 2 ** 20;

/** The process's peak resident memory (bytes): every thread's, the roles' workers included (VmHWM). */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function key(h: HeapMemory): string {
  return h.roles.length === 1 ? h.roles[0] : 'heap';
}

/**
 * `memory/<role>_heap_peak_mb` (the role's tensor heap high-water mark), `memory/<role>_off_heap_mb` (its frozen bf16
 * weights and host optimizer moments) and `memory/<role>_peak_mb` (their sum) for each worker, or `memory/heap_*` for the
 * one shared heap when colocated; `memory/peak_rss_mb` is the whole process (all threads).
 */
export function engineMemoryMetrics(engine: Pick<PpoEngine, 'heaps'>): MetricValues {
  const out: MetricValues = {};
  for (const h of engine.heaps()) {
    const k = key(h);
    out[`memory/${k}_heap_peak_mb`] = h.heapBytes / MB;
    out[`memory/${k}_off_heap_mb`] = h.offHeapBytes / MB;
    out[`memory/${k}_peak_mb`] = (h.heapBytes + h.offHeapBytes) / MB;
  }
  out['memory/peak_rss_mb'] = peakRssBytes() / MB;
  return out;
}

/** One log line per heap and one for the process, e.g. `memory actor: heap peak 2311.0 MiB + off heap 3500.2 MiB = 5811.2 MiB`. */
export function engineMemoryLines(engine: Pick<PpoEngine, 'heaps' | 'placement'>): string[] {
  const mib = (b: number): string => `${(b / MB).toFixed(1)} MiB`;
  const lines = engine.heaps().map(
    (h) => `memory ${h.roles.length === 1 ? h.roles[0] : `heap (${h.roles.join(', ')})`}: tensor heap peak ${mib(h.heapBytes)} + off heap ${mib(h.offHeapBytes)} (frozen bf16 weights, host optimizer moments) = ${mib(h.heapBytes + h.offHeapBytes)}; peak tensors ${mib(h.peakTensorBytes)}`,
  );
  lines.push(`memory total: process peak RSS ${mib(peakRssBytes())} (${engine.placement === 'per_role' ? 'one process: the trainer thread and every role worker' : 'one process, one heap'})`);
  return lines;
}
