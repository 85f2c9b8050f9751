// Messages between WorkerEngine (main thread) and engine-worker.ts (the thread that holds the model).
import type { EngineModelInfo, EngineRequest } from './engine';
import type { TokenLogprob } from './logprobs';

export interface WorkerStartData {
  path: string;
  backend?: string;
  threads?: number;
  maxModelLen?: number;
  quiet?: boolean;
}

export type WorkerInbound =
  | { type: 'run'; id: number; request: EngineRequest; stops: Int32Array }
  | { type: 'stats'; id: number }
  | { type: 'close' };

export type WorkerOutbound =
  | { type: 'ready'; info: EngineModelInfo }
  | { type: 'fatal'; message: string }
  | { type: 'tokens'; id: number; step: number; tokens: number[]; logprobs?: TokenLogprob[] }
  | { type: 'done'; id: number }
  | { type: 'failed'; id: number; message: string }
  | { type: 'stats'; id: number; numTensors: number };
