// The built-in demo as pipeline steps: a small random LLaMA-style model -> SFT -> reward model -> PPO (or GRPO/RLOO/DPO) on rlhfkit/demo.
import * as path from 'node:path';
import type { PipelineStep } from './pipeline';

export const DEMO_ALGORITHMS = ['ppo', 'grpo', 'rloo', 'dpo'] as const;
export type DemoAlgorithm = (typeof DEMO_ALGORITHMS)[number];

/** The demo's folders under its output folder (the demo keeps this short layout; real models use DeepSpeed-Chat's). */
export interface DemoLayout {
  root: string;
  base: string;
  step1: string;
  step2: string;
  step3: string;
  /** Where the final actor is (step 3's actor, or DPO's policy). */
  actor: string;
}

export function demoLayout(outputDir: string): DemoLayout {
  const root = path.resolve(outputDir);
  return {
    root,
    base: path.join(root, 'base'),
    step1: path.join(root, 'step1'),
    step2: path.join(root, 'step2'),
    step3: path.join(root, 'step3'),
    actor: path.join(root, 'step3', 'actor'),
  };
}

/**
 * The demo's steps, each a script in training_scripts/demo/ (their flags are the demo's settings, in one place):
 * step 1 also makes the random base model; `quick` is the CI-sized preset; step 3 runs the chosen algorithm (dpo
 * trains from the step-1 model and writes its policy where the step-3 actor goes).
 */
export function demoSteps(root: string, outputDir: string, o: { quick: boolean; algorithm: DemoAlgorithm; steps: readonly number[] }): PipelineStep[] {
  const l = demoLayout(outputDir);
  const dir = path.join(root, 'training_scripts', 'demo');
  const preset = o.quick ? 'quick' : 'full';
  const all: PipelineStep[] = [
    { number: 1, title: 'supervised fine-tuning', script: path.join(dir, 'step1_sft.sh'), args: [l.step1, l.base, preset], outputDir: l.step1, doneFile: 'config.json' },
    { number: 2, title: 'reward model', script: path.join(dir, 'step2_reward.sh'), args: [l.step2, l.step1, preset], outputDir: l.step2, doneFile: 'config.json' },
    {
      number: 3,
      title: o.algorithm === 'dpo' ? 'DPO' : `RLHF with ${o.algorithm.toUpperCase()}`,
      script: path.join(dir, 'step3_rlhf.sh'),
      args: [l.step3, l.step1, l.step2, preset, o.algorithm],
      outputDir: l.step3,
      doneFile: path.join('actor', 'config.json'),
    },
  ];
  return all.filter((s) => o.steps.includes(s.number));
}
