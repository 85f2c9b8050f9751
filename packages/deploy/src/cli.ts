// `rlhfkit train`: DeepSpeed-Chat's e2e_rlhf.py (steps 1-3 as separate processes), or the built-in demo with its report.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { flagRules, formatDuration, initBackend } from '@rlhfkit/core-tensor';
import { DEMO_ALGORITHMS, demoLayout, demoSteps, type DemoAlgorithm } from './demo';
import { runPipeline, timingTable, type PipelineStep } from './pipeline';
import { launchEnv } from './launch-env';
import { demoReport, formatDemoReport } from './report';
import { DEPLOYMENT_TYPES, modelName, repoRoot, sizeWord, stepOutputDir, stepScript, type DeploymentType, type StepNumber } from './steps';

export interface TrainArgs {
  step: number[];
  actor_model?: string;
  reward_model?: string;
  actor_zero_stage: string;
  reward_zero_stage: string;
  output_dir: string;
  deployment_type: DeploymentType;
  num_gpus?: number;
  hostfile?: string;
  force: boolean;
  quick: boolean;
  algorithm: DemoAlgorithm;
  report: boolean;
  report_prompts: number;
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The steps of a run with real models: DeepSpeed-Chat's scripts per deployment type and size, its output layout. */
export function modelSteps(root: string, a: TrainArgs): PipelineStep[] {
  const actor = a.actor_model ?? '1.3b';
  const reward = a.reward_model ?? '350m';
  const out = path.resolve(a.output_dir);
  const env: Record<string, string> = {};
  if (!sizeWord(actor)) env.RLHFKIT_ACTOR_MODEL = path.isAbsolute(actor) || fs.existsSync(actor) ? path.resolve(actor) : actor;
  if (!sizeWord(reward)) env.RLHFKIT_REWARD_MODEL = path.isAbsolute(reward) || fs.existsSync(reward) ? path.resolve(reward) : reward;
  const dir = (s: StepNumber): string => stepOutputDir(out, s, actor, reward);
  const steps: PipelineStep[] = [];
  for (const s of [1, 2, 3] as const) {
    if (!a.step.includes(s)) continue;
    const script = stepScript(root, s, a.deployment_type, actor, reward);
    const zs = s === 2 ? a.reward_zero_stage : a.actor_zero_stage;
    const args = s === 3 ? [dir(1), dir(2), a.actor_zero_stage, a.reward_zero_stage, dir(3)] : [dir(s), zs];
    steps.push({
      number: s,
      title: s === 1 ? `supervised fine-tuning of ${modelName(actor)}` : s === 2 ? `reward model from ${modelName(reward)}` : 'RLHF with PPO',
      script,
      args,
      outputDir: dir(s),
      doneFile: s === 3 ? path.join('actor', 'config.json') : 'config.json',
      env,
    });
  }
  if (a.step.includes(3)) {
    for (const s of [1, 2] as const) {
      if (a.step.includes(s) || fs.existsSync(path.join(dir(s), 'config.json'))) continue;
      const flag = s === 1 ? `--actor-model ${actor}` : `--reward-model ${reward}`;
      throw new Error(`Step ${s} model has not been trained (no ${dir(s)}/config.json). Train it with: rlhfkit train --step ${s} ${flag} --output-dir ${a.output_dir}`);
    }
  }
  return steps;
}

async function run(a: TrainArgs): Promise<void> {
  const root = repoRoot();
  const demo = a.actor_model === undefined && a.reward_model === undefined;
  if (!demo && (a.quick || a.algorithm !== 'ppo')) throw new Error('--quick and --algorithm choose the built-in demo\'s settings; with --actor-model/--reward-model the step scripts decide');
  if (a.actor_zero_stage || a.reward_zero_stage) say('Non-default zero stages are passed to the step scripts: stages 1 and 2 shard the optimizer state across the ranks of single_node/multi_node runs (3 runs as 2).');
  const steps = demo ? demoSteps(root, a.output_dir, { quick: a.quick, algorithm: a.algorithm, steps: a.step }) : modelSteps(root, a);
  // single_node / multi_node: every step runs under mpirun (rlhfkit launch), as DeepSpeed-Chat's scripts run `deepspeed`.
  const launch = launchEnv({ deploymentType: a.deployment_type, numGpus: a.num_gpus, hostfile: a.hostfile });
  for (const s of steps) s.env = { ...(s.env ?? {}), ...launch };
  if (demo) say(`The built-in demo (${a.quick ? 'quick preset' : 'full preset'}, step 3: ${a.algorithm}) -> ${path.resolve(a.output_dir)}; each step logs to its folder's training.log`);
  const t0 = performance.now();
  const timings = await runPipeline(steps, { force: a.force, log: say, progress: process.stdout.isTTY ? process.stdout : null });
  if (timings.length > 1) say(`---=== Finished Steps ${JSON.stringify(a.step)} in ${formatDuration((performance.now() - t0) / 1000)} ===---`);
  say(timingTable(timings));
  if (!demo || !a.report) return;
  const l = demoLayout(a.output_dir);
  const missing = [l.base, l.step1, l.step2, l.actor].filter((d) => !fs.existsSync(path.join(d, 'config.json')));
  if (missing.length) {
    say(`(no report: ${missing.join(', ')} not trained yet; run the remaining steps)`);
    return;
  }
  await initBackend({ quiet: true });
  const r = await demoReport(l, a.algorithm, { prompts: a.quick ? 32 : a.report_prompts, log: say });
  const text = formatDemoReport(r);
  fs.writeFileSync(path.join(l.root, 'report.md'), text);
  fs.writeFileSync(path.join(l.root, 'report.json'), JSON.stringify(r, null, 1) + '\n');
  say('');
  say(text);
  say(`(report saved to ${path.join(l.root, 'report.md')})`);
}

export function trainOptions(y: Argv): Argv<TrainArgs> {
  return y
    .option('step', { type: 'number', array: true, default: [1, 2, 3], choices: [1, 2, 3], describe: 'which steps to run (any subset, in order)' })
    .option('actor-model', { alias: 'actor_model', type: 'string', describe: 'step 1/3 model: a folder, a hub name in the local cache, or a size word (1.3b = facebook/opt-1.3b); none: the built-in demo' })
    .option('reward-model', { alias: 'reward_model', type: 'string', describe: 'step 2 model: a folder, a hub name, or a size word (350m = facebook/opt-350m)' })
    .option('actor-zero-stage', { alias: 'actor_zero_stage', type: 'string', default: '', choices: ['', '0', '1', '2', '3'], describe: 'ZeRO stage passed to the step 1 and 3 scripts' })
    .option('reward-zero-stage', { alias: 'reward_zero_stage', type: 'string', default: '', choices: ['', '0', '1', '2', '3'], describe: 'ZeRO stage passed to the step 2 script' })
    .option('output-dir', { alias: 'output_dir', type: 'string', default: './output', describe: 'where every step writes (DeepSpeed-Chat layout: actor-models/<size>, reward-models/<size>, step3-models/<size>)' })
    .option('deployment-type', { alias: 'deployment_type', type: 'string', default: 'single_gpu', choices: [...DEPLOYMENT_TYPES], describe: "which step scripts run (training_scripts/<step>/opt/<type>/)" })
    .option('num-gpus', { alias: 'num_gpus', type: 'number', describe: 'single_node/multi_node: ranks per host (DeepSpeed\'s name; default: one per CPU, or the hostfile\'s slots)' })
    .option('hostfile', { type: 'string', describe: 'multi_node: DeepSpeed hostfile, "host slots=N" per line (default /job/hostfile)' })
    .option('force', { type: 'boolean', default: false, describe: 'rerun steps that finished before (their folders are replaced)' })
    .option('quick', { type: 'boolean', default: false, describe: 'the demo: a small preset that finishes in about 3 minutes (what CI runs)' })
    .option('algorithm', { type: 'string', default: 'ppo', choices: [...DEMO_ALGORITHMS], describe: "the demo's step 3: PPO (DeepSpeed-Chat), GRPO or RLOO (no critic), or DPO from the step-1 model" })
    .option('report', { type: 'boolean', default: true, describe: 'the demo: end with the before/after report (--no-report skips it)' })
    .option('report-prompts', { alias: 'report_prompts', type: 'number', default: 80, describe: 'the demo: held-out prompts the report answers' })
    .check(flagRules({ num_gpus: { int: true, min: 1 } }))
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .strict() as unknown as Argv<TrainArgs>;
}

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: 'train',
  describe: "Run the pipeline (DeepSpeed-Chat's e2e_rlhf.py): steps 1-3 as separate processes; with no model flags, the built-in demo and its report",
  builder: trainOptions,
  handler: run,
};
