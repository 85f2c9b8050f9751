// `rlhfkit ppo train|eval` as a user runs them: DeepSpeed-Chat's step-3 scripts parse, and a real spawned run and eval.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yargs from 'yargs';
import { useBackend } from '../../core-tensor/src/testing/backends';
import { colocatedHeapError, ppoConfigFromArgs, ppoTrainCommand } from './cli';
import { PPO_DEFAULTS } from './config';
import { makeTinyRlhfModels, type TinyRlhfModels } from './testing';

const REPO = path.resolve(__dirname, '../../..');
const RLHFKIT = path.join(REPO, 'node_modules', '.bin', 'rlhfkit');

/** Parses argv with `ppo train`'s builder (strict) without running it; returns the parsed args or the error message. */
function parse(argv: string[]): Record<string, unknown> | string {
  let out: Record<string, unknown> | string = 'not parsed';
  try {
    yargs(['train', ...argv])
      .command({ ...ppoTrainCommand, handler: (a) => void (out = a as Record<string, unknown>) })
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .parseSync();
  } catch (e) {
    out = (e as Error).message;
  }
  return out;
}

describe('rlhfkit ppo train flags', () => {
  test("the wasm heap running out in one process names the limit and --placement per_role; a role worker's own advice and other errors pass through", () => {
    const oob = new Error('memory access out of bounds');
    const m = (colocatedHeapError(oob, { placement: 'colocated' }) as Error).message;
    expect(m).toMatch(/ran out of the tensor heap they share in this process \(memory access out of bounds; the wasm backend's heap stops at 4 GiB, --placement colocated\)\. Use --placement per_role/);
    expect(m).toMatch(/--frozen_dtype bf16/);
    const worker = new Error('the critic ran out of its tensor heap while running train (memory access out of bounds) (--placement per_role). To fit: ...');
    expect(colocatedHeapError(worker, { placement: 'per_role' })).toBe(worker);
    const other = new Error('no prompts');
    expect(colocatedHeapError(other, {})).toBe(other);
  });

  test("every flag of the mirrored DeepSpeed-Chat step-3 scripts is accepted", () => {
    const root = path.join(REPO, 'training_scripts', 'step3_rlhf');
    const scripts: string[] = [];
    const walk = (d: string): void => {
      for (const f of fs.readdirSync(d)) {
        const p = path.join(d, f);
        if (fs.statSync(p).isDirectory()) walk(p);
        else if (f.endsWith('.sh')) scripts.push(p);
      }
    };
    walk(root);
    expect(scripts.length).toBeGreaterThanOrEqual(7);
    for (const s of scripts) {
      const text = fs.readFileSync(s, 'utf8');
      // `"$RLHFKIT" ppo train ...`, or under mpirun `"$RLHFKIT" launch --deployment_type single_node -- ppo train ...`
      const body = text.slice(text.lastIndexOf(' ppo train'));
      const argv = body
        .replace(/\\\n/g, ' ')
        .split('&>')[0]
        .replace(/\$RLHFKIT_STEP_FLAGS/g, '')
        .replace(/\$\{?\w+\}?/g, '1')
        .replace(/"/g, '')
        .split(/\s+/)
        .filter(Boolean)
        .slice(2);
      const r = parse(argv);
      expect(typeof r === 'string' ? `${path.relative(root, s)}: ${r}` : 'ok').toBe('ok');
    }
  });

  test('flags map onto PpoConfig; defaults are DeepSpeed-Chat\'s', () => {
    const a = parse(['--actor_model_name_or_path', 'A', '--critic_model_name_or_path', 'C', '--actor-lora-dim', '8', '--do_sample', '--kl_ctl', '0.05']);
    expect(typeof a).toBe('object');
    const c = ppoConfigFromArgs(a as Record<string, unknown>);
    expect(c.actorLoraDim).toBe(8);
    expect(c.doSample).toBe(true);
    expect(c.klCtl).toBe(0.05);
    expect(c.actorLearningRate).toBe(PPO_DEFAULTS.actorLearningRate);
    expect(c.numWarmupSteps).toBe(100);
    expect(c.temperature).toBeNull();
    expect(parse(['--actor_model_name_or_path', 'A', '--critic_model_name_or_path', 'C', '--actor_lora_dimm', '8'])).toMatch(/actor_lora_dimm/);
  });
});

describe('rlhfkit ppo train and eval, spawned [wasm]', () => {
  useBackend('wasm');
  let models: TinyRlhfModels;
  beforeAll(async () => {
    models = await makeTinyRlhfModels();
  });
  afterAll(() => models.cleanup());

  test('a 2-step run writes actor/ and critic/, then eval compares the actors with reward scores', () => {
    const out = path.join(models.root, 'step3');
    const train = spawnSync(
      RLHFKIT,
      [
        'ppo', 'train', '--data_path', 'rlhfkit/demo', '--data_output_path', path.join(models.root, 'data_files'),
        '--actor_model_name_or_path', models.actor, '--critic_model_name_or_path', models.critic, '--output_dir', out,
        '--per_device_generation_batch_size', '2', '--per_device_training_batch_size', '2', '--max_prompt_seq_len', '40',
        '--max_answer_seq_len', '6', '--max_steps', '2', '--actor_zero_stage', '2', '--enable_hybrid_engine', '--deepspeed',
      ],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, FORCE_COLOR: '0' } },
    );
    expect(train.stderr).toMatch(/--actor_zero_stage 2: not used/);
    expect(train.stderr).toMatch(/Actor Loss: /);
    expect(train.status).toBe(0);
    for (const sub of ['actor', 'critic']) expect(fs.existsSync(path.join(out, sub, 'config.json'))).toBe(true);
    const prompts = path.join(models.root, 'prompts.json');
    fs.writeFileSync(prompts, JSON.stringify(['\n\nHuman: Say something nice.\n\nAssistant:', '\n\nHuman: Use the word "sea" in a sentence.\n\nAssistant:']));
    const ev = spawnSync(
      RLHFKIT,
      ['ppo', 'eval', '--model_name_or_path_baseline', models.actor, '--model_name_or_path_finetune', path.join(out, 'actor'), '--reward_model', models.critic, '--prompts', prompts, '--max_new_tokens', '5', '--json'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(ev.status).toBe(0);
    const lines = ev.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toHaveProperty('baseline.score');
    expect(lines[2]).toHaveProperty('summary.finetune.meanScore');
  });
});
