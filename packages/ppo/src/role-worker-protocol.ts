// Messages between a role's worker thread (role-worker.ts) and its proxy in the trainer's thread (worker-roles.ts).
import type { ModelConfig } from '@rlhfkit/core-tensor';
import type { PpoConfig } from './config';
import type { RoleName } from './role-factory';

/** What a role's worker is started with (structured-cloned as its workerData). */
export interface RoleWorkerStart {
  role: RoleName;
  config: PpoConfig;
  numTotalIters: number;
  unsupervised: boolean;
  /** The backend and threads the trainer's thread runs (each worker starts its own). */
  backend: string | null;
  threads: number | null;
}

/** A worker's memory as of its last reply (bytes); every reply carries one, so the trainer reads them without asking. */
export interface WorkerMemoryReport {
  /** The worker's tensor heap high-water mark (wasm: its memory's size). */
  heapBytes: number;
  /** Tensor bytes alive now. */
  tensorBytes: number;
  /** The largest tensor memory seen while the role worked. */
  peakTensorBytes: number;
  /** Frozen bf16 weights and host-side optimizer moments. */
  offHeapBytes: number;
}

/** The role methods a worker serves (the ActorRole, CriticRole, RewardRole and LogProbRole methods). */
export const ROLE_METHODS = [
  'setTraining', 'memory', 'dispose', 'logProbs', 'generate', 'trainPolicy', 'trainLm', 'updateEma', 'saveModel', 'saveState', 'loadState', 'values',
  'trainValue', 'score',
] as const;
export type RoleMethod = (typeof ROLE_METHODS)[number];

export type RoleInbound = { type: 'call'; id: number; method: RoleMethod; args: unknown[] } | { type: 'close' };

export type RoleOutbound =
  | { type: 'log'; line: string }
  | { type: 'ready'; mem: WorkerMemoryReport; modelConfig: ModelConfig }
  | { type: 'fatal'; message: string; heapExhausted: boolean }
  | { type: 'result'; id: number; value: unknown; mem: WorkerMemoryReport }
  | { type: 'error'; id: number; message: string; heapExhausted: boolean; mem: WorkerMemoryReport };
