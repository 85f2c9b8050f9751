// The pipeline runner with stand-in step scripts: order, logs, skipping finished steps, resume, --force, failures, layout.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { modelSteps, type TrainArgs } from './cli';
import { demoSteps } from './demo';
import { hms, runPipeline, StepFailedError, timingTable, type PipelineStep } from './pipeline';
import { modelLabel, modelName, repoRoot, sizeWord, stepOutputDir } from './steps';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-pipeline-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A step script that logs its arguments and RLHFKIT_STEP_FLAGS to training.log, then writes config.json (or fails). */
function script(name: string, body = ''): string {
  const f = path.join(root, `${name}.sh`);
  fs.writeFileSync(
    f,
    `#!/bin/bash\nOUT=$1\nmkdir -p "$OUT"\necho "args: $*" >> "$OUT/training.log"\necho "flags: $RLHFKIT_STEP_FLAGS" >> "$OUT/training.log"\n${body}\necho '{}' > "$OUT/config.json"\n`,
  );
  return f;
}

function step(n: number, sh: string): PipelineStep {
  const out = path.join(root, `out${n}`);
  return { number: n, title: `step ${n}`, script: sh, args: [out, 'x'], outputDir: out, doneFile: 'config.json' };
}

describe('runPipeline', () => {
  test('runs each step in order as its own process, prints DeepSpeed-Chat\'s lines, skips finished steps unless --force', async () => {
    const lines: string[] = [];
    const steps = [step(1, script('a')), step(2, script('b'))];
    const t = await runPipeline(steps, { log: (l) => lines.push(l) });
    expect(t.map((x) => [x.step, x.status])).toEqual([[1, 'ran'], [2, 'ran']]);
    expect(lines).toContain('---=== Running Step 1 (step 1) ===---');
    expect(lines.some((l) => /^---=== Finished Step 2 in 0:00:0\d ===---$/.test(l))).toBe(true);
    expect(fs.readFileSync(path.join(root, 'out1', 'training.log'), 'utf8')).toMatch(/args: .*out1 x/);
    const again = await runPipeline(steps, { log: () => undefined });
    expect(again.map((x) => x.status)).toEqual(['skipped', 'skipped']);
    const forced = await runPipeline(steps.slice(0, 1), { log: () => undefined, force: true });
    expect(forced[0].status).toBe('ran');
    expect(timingTable(t)).toMatch(/^\| Step 1 +\| Step 2 +\| Total +\|/);
  });

  test('a failing step stops the pipeline, naming its log and showing its last lines', async () => {
    const steps = [step(1, script('bad', 'echo "something broke: out of memory" >> "$OUT/training.log"; exit 3')), step(2, script('never'))];
    const err = await runPipeline(steps, { log: () => undefined }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as Error).message).toMatch(/Step 1 exited with status 3; its log is .*out1\/training.log/);
    expect((err as Error).message).toMatch(/something broke: out of memory/);
    expect(fs.existsSync(path.join(root, 'out2'))).toBe(false);
  });

  test('an interrupted step (checkpoints, no marker) is resumed with --resume_from_checkpoint latest', async () => {
    const s = step(1, script('r'));
    const ck = path.join(s.outputDir, 'checkpoints', 'checkpoint-5');
    fs.mkdirSync(ck, { recursive: true });
    fs.writeFileSync(path.join(ck, 'trainer_state.json'), '{}');
    const t = await runPipeline([s], { log: () => undefined });
    expect(t[0].status).toBe('resumed');
    expect(fs.readFileSync(path.join(s.outputDir, 'training.log'), 'utf8')).toMatch(/flags: --resume_from_checkpoint latest/);
  });
});

describe('step layout', () => {
  test("size words, model names and DeepSpeed-Chat's output folders", () => {
    expect(sizeWord('1.3b')).toBe('1.3b');
    expect(sizeWord('facebook/opt-350m')).toBe('350m');
    expect(sizeWord('./my-model')).toBeNull();
    expect(modelName('6.7b')).toBe('facebook/opt-6.7b');
    expect(modelLabel('/x/y/my-sft/')).toBe('my-sft');
    expect(stepOutputDir('/o', 1, '1.3b', '350m')).toBe('/o/actor-models/1.3b');
    expect(stepOutputDir('/o', 2, '1.3b', '350m')).toBe('/o/reward-models/350m');
    expect(stepOutputDir('/o', 3, '1.3b', '350m')).toBe('/o/step3-models/1.3b');
    expect(hms(3725)).toBe('1:02:05');
  });

  test('real models: the mirrored scripts per deployment type; step 3 needs steps 1-2 trained', () => {
    const base: TrainArgs = {
      step: [1, 2, 3], actor_zero_stage: '', reward_zero_stage: '', output_dir: root, deployment_type: 'single_gpu', force: false, quick: false,
      algorithm: 'ppo', report: false, report_prompts: 10, actor_model: '1.3b', reward_model: '350m',
    };
    const repo = repoRoot();
    const s = modelSteps(repo, base);
    expect(s.map((x) => path.relative(repo, x.script))).toEqual([
      'training_scripts/step1_sft/opt/single_gpu/run_1.3b.sh',
      'training_scripts/step2_reward/opt/single_gpu/run_350m.sh',
      'training_scripts/step3_rlhf/opt/single_gpu/run_1.3b.sh',
    ]);
    expect(s[2].args).toEqual([path.join(root, 'actor-models/1.3b'), path.join(root, 'reward-models/350m'), '', '', path.join(root, 'step3-models/1.3b')]);
    expect(() => modelSteps(repo, { ...base, step: [3] })).toThrow(/Step 1 model has not been trained .* rlhfkit train --step 1 --actor-model 1.3b/);
    expect(() => modelSteps(repo, { ...base, actor_model: '13b' })).toThrow(/run_13b.sh does not exist/);
    const folder = modelSteps(repo, { ...base, actor_model: root, step: [1] });
    expect(folder[0].env?.RLHFKIT_ACTOR_MODEL).toBe(root);
  });

  test('the demo: three scripts in training_scripts/demo, the final actor at step3/actor', () => {
    const repo = repoRoot();
    const s = demoSteps(repo, root, { quick: true, algorithm: 'dpo', steps: [1, 2, 3] });
    expect(s.map((x) => path.basename(x.script))).toEqual(['step1_sft.sh', 'step2_reward.sh', 'step3_rlhf.sh']);
    for (const x of s) expect(fs.existsSync(x.script)).toBe(true);
    expect(s[2].args.slice(-2)).toEqual(['quick', 'dpo']);
    expect(path.join(s[2].outputDir, s[2].doneFile)).toBe(path.join(root, 'step3', 'actor', 'config.json'));
  });
});
