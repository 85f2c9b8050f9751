// `rlhfkit ppo train|eval`: DeepSpeed-Chat step 3's main.py flags on PpoTrainer, and two actors compared with a reward model.
import type { Argv, CommandModule } from 'yargs';
import { claimOutputDir, configFromArgs, explainUnsupportedFlags, flagOption, formatDuration, initBackend, isHeapExhausted, WASM_HEAP_LIMIT_BYTES } from '@rlhfkit/core-tensor';
import { readPromptsFile } from '@rlhfkit/sft';
import { compareActors, type CompareResult, type CompareRow } from './compare';
import { PPO_DEFAULTS, type PpoConfig } from './config';
import { addPpoFlags, ppoFlagNotes } from './flags';
import { engineMemoryLines } from './memory-report';
import { memoryAdvice } from './placement';
import { PpoTrainer } from './ppo-trainer';

export { addPpoFlags, PPO_FLAGS, PPO_SHARED_FLAGS, ppoFlagNotes } from './flags';

type Args = Record<string, unknown>;

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** PpoConfig from parsed flags (flags left out keep PPO_DEFAULTS); validated by PpoTrainer.create. */
export function ppoConfigFromArgs(args: Args): Partial<PpoConfig> {
  return configFromArgs<PpoConfig>(PPO_DEFAULTS, args);
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function runTrain(args: Args): Promise<void> {
  // Step 3 honours DeepSpeed-Chat's --dtype bf16 for the frozen weights; the shared note (steps 1 and 2) would say otherwise.
  if (args.dtype === 'bf16') {
    const frozen = args.frozen_dtype ?? 'bf16';
    say(`rlhfkit: --dtype bf16: the frozen weights (reference, reward model, LoRA bases) are held as ${frozen} (--frozen_dtype ${frozen}); trained weights and compute stay float32.`);
    explainUnsupportedFlags({ ...args, dtype: undefined }, say);
  } else {
    explainUnsupportedFlags(args, say);
  }
  for (const n of ppoFlagNotes(args)) say(`rlhfkit: ${n}`);
  const config = ppoConfigFromArgs(args);
  const outputDir = config.outputDir ?? PPO_DEFAULTS.outputDir;
  // Claimed before any model loads, so a second run into the same folder is refused at once.
  const claim = claimOutputDir(outputDir, { resume: config.resumeFromCheckpoint, overwrite: config.overwriteOutputDir, log: say });
  try {
    await trainClaimed(config, claim);
  } catch (e) {
    throw colocatedHeapError(e, config);
  } finally {
    claim.release();
  }
}

/**
 * The wasm heap running out in this process (colocated roles; a role worker's own error already says what to do) becomes
 * a message naming the limit and the flag to use instead of the backend's 'memory access out of bounds'.
 */
export function colocatedHeapError(e: unknown, config: Partial<PpoConfig>): unknown {
  const msg = e instanceof Error ? e.message : String(e);
  if (!isHeapExhausted(e) || msg.includes('--placement per_role')) return e;
  const c = { ...PPO_DEFAULTS, ...config } as PpoConfig;
  return new Error(
    `the step-3 models ran out of the tensor heap they share in this process (${msg}; the wasm backend's heap stops at ` +
      `${WASM_HEAP_LIMIT_BYTES / 2 ** 30} GiB, --placement ${c.placement}). Use --placement per_role: each role then runs in its own worker ` +
      `thread with its own heap. To shrink the roles further: ${memoryAdvice('actor', c)}`,
  );
}

async function trainClaimed(config: Partial<PpoConfig>, claim: ReturnType<typeof claimOutputDir>): Promise<void> {
  await initBackend({ backend: config.backend ?? undefined, threads: config.threads ?? undefined, workload: 'train' });
  const t0 = performance.now();
  const trainer = await PpoTrainer.create(config, { log: say, outputDirClaim: claim });
  try {
    const c = trainer.config;
    const run = trainer.run!;
    say(
      `ppo: ${run.data.prompts.length} prompts, ${Math.ceil(run.data.prompts.length / c.perDeviceGenerationBatchSize)} generation batches per epoch, ` +
        `num_total_iters ${run.numTotalIters}, estimator ${c.advantageEstimator}`,
    );
    const loadSeconds = (performance.now() - t0) / 1000;
    const r = await trainer.train();
    for (const [role, m] of Object.entries(r.memory)) say(`memory ${role}: parameters ${mb(m.parameters)}, optimizer ${mb(m.optimizer)}`);
    for (const line of engineMemoryLines(run.engine)) say(line);
    const sum = { generate: 0, score: 0, train: 0 };
    for (const round of r.rounds) for (const k of ['generate', 'score', 'train'] as const) sum[k] += round.seconds[k];
    say(
      `time: loading ${loadSeconds.toFixed(1)} s; over ${r.rounds.length} round(s): generate ${sum.generate.toFixed(1)} s, score ${sum.score.toFixed(1)} s, ` +
        `train ${sum.train.toFixed(1)} s (placement ${run.engine.placement})`,
    );
    const saved = ['actor', ...(c.advantageEstimator === 'gae' ? ['critic'] : []), ...(c.enableEma ? ['actor_ema'] : [])];
    if (r.status === 'completed') say(`saved the ${saved.length > 1 ? `${saved.slice(0, -1).join(', ')} and ${saved[saved.length - 1]}` : saved[0]} to ${saved.map((n) => `${c.outputDir}/${n}`).join(', ')} in ${formatDuration((performance.now() - t0) / 1000)} (metrics: ${c.outputDir}/metrics.jsonl)`);
    else process.exitCode = 130;
  } finally {
    await trainer.dispose();
  }
}

export const ppoTrainCommand: CommandModule<object, Args> = {
  command: 'train',
  describe: "Step 3: RLHF with PPO (DeepSpeed-Chat's step3_rlhf_finetuning/main.py flags)",
  builder: (y) =>
    addPpoFlags(y as Argv)
      .demandOption(['actor_model_name_or_path', 'critic_model_name_or_path'])
      .parserConfiguration({ 'duplicate-arguments-array': false })
      .strict()
      .example(
        '$0 ppo train --data_path rlhfkit/demo --actor_model_name_or_path out/step1 --critic_model_name_or_path out/step2 --output_dir out/step3',
        'PPO on the built-in demo data',
      ) as Argv<Args>,
  handler: runTrain,
};

function formatRow(row: CompareRow): string {
  const f = (x: CompareRow['baseline']): string => `${JSON.stringify(x.text)}  (reward ${x.score.toFixed(3)}, AFINN ${x.afinn})`;
  return `PROMPT: ${JSON.stringify(row.prompt)}\n  baseline:   ${f(row.baseline)}\n  fine-tuned: ${f(row.finetune)}\n`;
}

function formatSummary(r: CompareResult): string {
  const line = (name: string, s: CompareResult['baseline']): string =>
    `${name.padEnd(10)} mean reward ${s.meanScore.toFixed(3)} | mean AFINN ${s.meanAfinn.toFixed(2)} | mean tokens ${s.meanTokens.toFixed(1)} | distinct answers ${(100 * s.distinctRatio).toFixed(0)}% | top-word share ${(100 * s.topWordShare).toFixed(0)}%` +
    (s.followRate === null ? '' : ` | follows the instruction ${(100 * s.followRate).toFixed(0)}%`);
  return `${r.rows.length} prompts\n${line('baseline', r.baseline)}\n${line('fine-tuned', r.finetune)}\n`;
}

interface EvalArgs {
  model_name_or_path_baseline: string;
  model_name_or_path_finetune: string;
  reward_model?: string;
  prompts?: string;
  data_path?: string[];
  data_split: string;
  num_prompts?: number;
  max_prompt_seq_len: number;
  max_new_tokens: number;
  do_sample: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  repetition_penalty?: number;
  seed: number;
  batch_size: number;
  json: boolean;
  backend?: string;
  threads?: number;
}

export const ppoEvalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: "Two actors' answers to the same prompts side by side, each scored by a reward model (and by AFINN valence)",
  builder: (y) =>
    y
      .option('model_name_or_path_baseline', { alias: 'model-name-or-path-baseline', type: 'string', demandOption: true, describe: 'the actor before step 3 (e.g. the step-1 model)' })
      .option('model_name_or_path_finetune', { alias: 'model-name-or-path-finetune', type: 'string', demandOption: true, describe: 'the actor after step 3 (OUTPUT/actor)' })
      .option('reward_model', { alias: 'reward-model', type: 'string', describe: 'the reward model that scores both (step 2 output); without it only AFINN valence and the instruction judge score them' })
      .option('prompts', { type: 'string', describe: 'prompts file (.txt one a line, .json array, .jsonl); or use --data_path' })
      .option('data_path', { ...flagOption('data_path'), default: undefined, describe: "use the held-out prompts of this dataset's eval split (phase 3)" })
      .option('data_split', flagOption('data_split'))
      .option('num_prompts', { alias: 'num-prompts', type: 'number', describe: 'at most this many held-out prompts' })
      .option('max_prompt_seq_len', { ...flagOption('max_prompt_seq_len') })
      .option('max_new_tokens', { alias: 'max-new-tokens', type: 'number', default: 64, describe: 'new tokens per answer at most' })
      .option('do_sample', { alias: 'do-sample', type: 'boolean', default: false, describe: 'sample instead of greedy decoding' })
      .option('temperature', { type: 'number' })
      .option('top_k', { alias: 'top-k', type: 'number' })
      .option('top_p', { alias: 'top-p', type: 'number' })
      .option('repetition_penalty', { alias: 'repetition-penalty', type: 'number', describe: 'HF repetition penalty (default 1 = off)' })
      .option('seed', { type: 'number', default: 1234 })
      .option('batch_size', { alias: 'batch-size', type: 'number', default: 16, describe: 'prompts generated together' })
      .option('json', { type: 'boolean', default: false, describe: 'one JSON object per prompt, then the summary as JSON' })
      .option('backend', flagOption('backend'))
      .option('threads', flagOption('threads'))
      .check((a) => {
        const data = a.data_path as unknown;
        if (!a.prompts && !(Array.isArray(data) && data.length > 0)) throw new Error('give --prompts FILE or --data_path DATASET (its held-out eval prompts)');
        return true;
      })
      .strict() as unknown as Argv<EvalArgs>,
  handler: async (a) => {
    await initBackend({ backend: a.backend, threads: a.threads });
    const r = await compareActors(
      {
        baseline: a.model_name_or_path_baseline,
        finetune: a.model_name_or_path_finetune,
        rewardModel: a.reward_model,
        prompts: a.prompts ? readPromptsFile(a.prompts) : undefined,
        dataPath: a.data_path,
        dataSplit: a.data_split,
        numPrompts: a.num_prompts,
        maxPromptSeqLen: a.max_prompt_seq_len,
        maxNewTokens: a.max_new_tokens,
        doSample: a.do_sample,
        temperature: a.temperature,
        topK: a.top_k,
        topP: a.top_p,
        repetitionPenalty: a.repetition_penalty,
        seed: a.seed,
        batchSize: a.batch_size,
      },
      (row) => process.stdout.write(a.json ? `${JSON.stringify(row)}\n` : formatRow(row)),
    );
    process.stdout.write(a.json ? `${JSON.stringify({ summary: { baseline: r.baseline, finetune: r.finetune, prompts: r.rows.length } })}\n` : formatSummary(r));
  },
};

/** `rlhfkit ppo <train|eval>`. */
export const ppoCommand: CommandModule<object, object> = {
  command: 'ppo <command>',
  describe: 'Step 3: RLHF with PPO (and critic-free GRPO/RLOO/REINFORCE), and its evaluation',
  builder: (y) => y.command(ppoTrainCommand).command(ppoEvalCommand).demandCommand(1),
  handler: () => undefined,
};
