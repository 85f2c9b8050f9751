// Where this process stands in a run, read from Open MPI's environment (OMPI_COMM_WORLD_*) without starting MPI.

/** This process's place among the ranks of a run. */
export interface WorldInfo {
  rank: number;
  size: number;
  localRank: number;
  localSize: number;
  /** True when mpirun (Open MPI) started this process. */
  underMpirun: boolean;
}

const SINGLE: WorldInfo = Object.freeze({ rank: 0, size: 1, localRank: 0, localSize: 1, underMpirun: false });

function intVar(env: NodeJS.ProcessEnv, name: string): number | null {
  const v = env[name];
  if (v == null || v === '') return null;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : null;
}

/**
 * Open MPI's OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK / _LOCAL_SIZE, set by mpirun for every process it starts;
 * one process (rank 0 of 1) without them.
 */
export function worldFromEnv(env: NodeJS.ProcessEnv = process.env): WorldInfo {
  const rank = intVar(env, 'OMPI_COMM_WORLD_RANK');
  const size = intVar(env, 'OMPI_COMM_WORLD_SIZE');
  if (rank === null || size === null || size < 1 || rank >= size) return SINGLE;
  const localRank = intVar(env, 'OMPI_COMM_WORLD_LOCAL_RANK') ?? 0;
  const localSize = intVar(env, 'OMPI_COMM_WORLD_LOCAL_SIZE') ?? 1;
  return { rank, size, localRank, localSize: Math.max(1, localSize), underMpirun: true };
}

/** True on rank 0, the rank that writes (also true in a single process). */
export function isRankZero(env: NodeJS.ProcessEnv = process.env): boolean {
  return worldFromEnv(env).rank === 0;
}
