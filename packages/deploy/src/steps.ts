// Which script each step runs and where its model goes: DeepSpeed-Chat's e2e_rlhf.py layout, size words and deployment types.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const DEPLOYMENT_TYPES = ['single_gpu', 'single_node', 'multi_node'] as const;
export type DeploymentType = (typeof DEPLOYMENT_TYPES)[number];
export type StepNumber = 1 | 2 | 3;

/** DeepSpeed-Chat's size words: `--actor-model 1.3b` means facebook/opt-1.3b (its e2e_rlhf.py strips the prefix too). */
export const OPT_SIZES = ['125m', '350m', '1.3b', '2.7b', '6.7b', '13b', '30b', '66b'] as const;

/** `facebook/opt-1.3b` -> `1.3b`; a size word stays; anything else (a folder, another hub name) -> null. */
export function sizeWord(model: string): string | null {
  const s = model.replace(/^facebook\/opt-/, '');
  return (OPT_SIZES as readonly string[]).includes(s) ? s : null;
}

/** The model a size word or name means: `1.3b` -> facebook/opt-1.3b; folders and other names unchanged. */
export function modelName(model: string): string {
  const s = sizeWord(model);
  return s ? `facebook/opt-${s}` : model;
}

/** The folder-safe label of a model for the output layout: the size word, else the folder's or repo's last name. */
export function modelLabel(model: string): string {
  return sizeWord(model) ?? (path.basename(model.replace(/\/+$/, '')) || 'model');
}

const STEP_DIRS: Record<StepNumber, string> = { 1: 'step1_sft', 2: 'step2_reward', 3: 'step3_rlhf' };
const ROLE: Record<StepNumber, string> = { 1: 'actor', 2: 'reward', 3: 'step3' };

/** DeepSpeed-Chat's output layout: `<out>/actor-models/<size>`, `<out>/reward-models/<size>`, `<out>/step3-models/<size>`. */
export function stepOutputDir(outputDir: string, step: StepNumber, actorModel: string, rewardModel: string): string {
  const label = step === 2 ? modelLabel(rewardModel) : modelLabel(actorModel);
  return path.join(outputDir, `${ROLE[step]}-models`, label);
}

/**
 * training_scripts/<step>/opt/<deployment>/run_<size>.sh, as e2e_rlhf.py picks it. A model given as a folder or another
 * hub name runs the script of DeepSpeed-Chat's default size for that step (1.3b actor, 350m reward) with the model
 * replaced through RLHFKIT_ACTOR_MODEL / RLHFKIT_REWARD_MODEL.
 */
export function stepScript(root: string, step: StepNumber, deployment: DeploymentType, actorModel: string, rewardModel: string): string {
  const size = step === 2 ? (sizeWord(rewardModel) ?? '350m') : (sizeWord(actorModel) ?? '1.3b');
  const script = path.join(root, 'training_scripts', STEP_DIRS[step], 'opt', deployment, `run_${size}.sh`);
  if (!fs.existsSync(script)) {
    const dir = path.dirname(script);
    const have = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.sh')).join(', ') : 'none';
    throw new Error(`${script} does not exist (this folder has: ${have}). Use the examples in ${dir} as a template, or pick another --${step === 2 ? 'reward' : 'actor'}-model size`);
  }
  return script;
}

/** Where rlhfkit's sources live (the repo root: training_scripts/ and node_modules/.bin/rlhfkit). */
export function repoRoot(from = __dirname): string {
  for (let d = from; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'training_scripts')) && fs.existsSync(path.join(d, 'packages'))) return d;
    if (path.dirname(d) === d) throw new Error(`cannot find rlhfkit's training_scripts/ above ${from}`);
  }
}
