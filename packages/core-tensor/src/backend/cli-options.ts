// The --backend / --threads flags every rlhfkit command that computes shares (yargs option specs).
import type { Options } from 'yargs';
import { BACKEND_CHOICES } from './init-backend';

export interface BackendCliArgs {
  backend?: string;
  threads?: number;
}

/** Spread into a yargs builder: `.options(backendCliOptions)`, then `initBackend({ backend, threads })`. */
export const backendCliOptions: Record<keyof BackendCliArgs, Options> = {
  backend: {
    type: 'string',
    choices: [...BACKEND_CHOICES],
    describe: 'compute backend (default: env RLHFKIT_BACKEND, else auto = node-gpu > node > wasm > cpu)',
  },
  threads: {
    type: 'number',
    describe: 'compute threads for wasm and the native kernels (default: env RLHFKIT_THREADS, else every CPU this process may use, capped by its cgroup quota); training commands give them to the native kernels and run the other wasm kernels on 1',
  },
};
