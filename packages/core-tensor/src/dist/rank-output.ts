// Under mpirun: only rank 0 prints (DeepSpeed-Chat's print_rank_0) and each rank gets its share of the host's CPUs as threads.
import { availableCpus } from '../backend/cpu-count';
import { worldFromEnv } from './world';

let prepared: { writeError: (text: string) => void } | null = null;

/**
 * Call once at the start of a command. Outside mpirun it does nothing. Under mpirun: RLHFKIT_THREADS defaults to this
 * host's CPUs divided among its ranks (so two ranks on two cores do not each start two threads), and ranks other than
 * 0 print nothing (RLHFKIT_LOG_ALL_RANKS=1 keeps their output) except their error line, which names the rank.
 */
export function prepareRankProcess(env: NodeJS.ProcessEnv = process.env): { writeError: (text: string) => void } {
  if (prepared) return prepared;
  const world = worldFromEnv(env);
  const stderr = process.stderr.write.bind(process.stderr) as (text: string) => boolean;
  if (!world.underMpirun) return (prepared = { writeError: (t) => void stderr(t) });
  if ((env.RLHFKIT_THREADS ?? '') === '' && world.localSize > 1) {
    env.RLHFKIT_THREADS = String(Math.max(1, Math.floor(availableCpus() / world.localSize)));
  }
  if (world.rank === 0 || env.RLHFKIT_LOG_ALL_RANKS === '1') return (prepared = { writeError: (t) => void stderr(t) });
  const drop = ((..._args: unknown[]) => true) as typeof process.stdout.write;
  process.stdout.write = drop;
  process.stderr.write = drop;
  return (prepared = { writeError: (t) => void stderr(t.replace(/^([\w-]+): /, `$1 (rank ${world.rank}): `)) });
}
