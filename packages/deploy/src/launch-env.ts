// The environment that makes each step of `rlhfkit train --deployment-type single_node|multi_node` run data-parallel under mpirun.
import { availableCpus } from '@rlhfkit/core-tensor';
import type { DeploymentType } from './steps';

export interface LaunchSettings {
  deploymentType: DeploymentType;
  /** Ranks per host (DeepSpeed's --num_gpus); single_node default: one per CPU. */
  numGpus?: number;
  /** multi_node: the DeepSpeed hostfile (default /job/hostfile). */
  hostfile?: string;
}

/**
 * single_gpu: nothing (one process, as before). single_node / multi_node: RLHFKIT_LAUNCH, which the demo's step scripts
 * put before their command (`rlhfkit $RLHFKIT_LAUNCH sft train ...`), and the settings `rlhfkit launch` reads in
 * DeepSpeed-Chat's mirrored single_node/multi_node scripts (RLHFKIT_NUM_GPUS, RLHFKIT_HOSTFILE). On one host the ranks
 * share its CPUs: RLHFKIT_THREADS (unless set) is the CPUs per rank, so scripts that pass --threads give each rank its share.
 */
export function launchEnv(s: LaunchSettings, env: NodeJS.ProcessEnv = process.env, cpus: number = availableCpus()): Record<string, string> {
  if (s.deploymentType === 'single_gpu') return {};
  const out: Record<string, string> = { RLHFKIT_LAUNCH: `launch --deployment_type ${s.deploymentType} --` };
  if (s.numGpus) out.RLHFKIT_NUM_GPUS = String(s.numGpus);
  if (s.hostfile) out.RLHFKIT_HOSTFILE = s.hostfile;
  if (s.deploymentType === 'single_node' && (env.RLHFKIT_THREADS ?? '') === '') {
    const ranks = s.numGpus ?? (Number(env.RLHFKIT_NUM_GPUS) || cpus);
    out.RLHFKIT_THREADS = String(Math.max(1, Math.floor(cpus / ranks)));
  }
  return out;
}
