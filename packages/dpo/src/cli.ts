// `rlhfkit dpo train|eval`: DeepSpeed-Chat step2_dpo_finetuning/main.py's flags on DpoTrainer, and a trained policy scored against its reference.
import * as fs from 'node:fs';
import type { Argv, CommandModule, Options } from 'yargs';
import {
  addDsChatFlags, claimOutputDir, configFromArgs, DATA_FLAG_NAMES, explainUnsupportedFlags, FLAG_GROUPS, flagOption, flagRules, initBackend,
  TRAINING_FLAG_NAMES, type DsChatFlagName,
} from '@rlhfkit/core-tensor';
import { DPO_DEFAULTS, referencePath, resolveDpoConfig, type DpoConfig } from './config';
import { formatDpoEval } from './evaluate';
import { runDpoEval, type DpoEvalReport } from './run-eval';
import { DpoTrainer } from './trainer';

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Parsed `dpo train` flags: DeepSpeed-Chat's snake_case names. */
export type DpoTrainArgs = Record<string, unknown>;

/** DeepSpeed-Chat's DPO main.py has no --sft_only_data_path; everything else of the shared flags it has (or rlhfkit adds to every step). */
const TRAIN_FLAGS: readonly DsChatFlagName[] = [...DATA_FLAG_NAMES.filter((f) => f !== 'sft_only_data_path'), ...TRAINING_FLAG_NAMES];

const BETA: Options = { type: 'number', default: DPO_DEFAULTS.beta, group: FLAG_GROUPS.training, describe: 'DPO temperature: the implicit reward is beta x log(pi / ref) (typically 0.1 to 0.5)' };
const LABEL_SMOOTHING: Options = {
  alias: 'label-smoothing', type: 'number', default: DPO_DEFAULTS.labelSmoothing, group: FLAG_GROUPS.training,
  describe: 'conservative DPO: preferences are assumed flipped with this probability',
};
const REFERENCE: Options = {
  alias: 'reference-model-name-or-path', type: 'string', group: FLAG_GROUPS.model,
  describe: 'the frozen reference (default: --model_name_or_path, as DeepSpeed-Chat; an rlhfkit flag)',
};

/** DPO's own number flags, checked as the command line is parsed. */
const DPO_FLAG_RULES = {
  beta: { min: 0, minExclusive: true },
  label_smoothing: { min: 0, max: 0.5, maxExclusive: true },
  eval_interval: { int: true, min: 0 },
};

/** The one-line note for --offload_reference_model, or null when it was not given. */
export function offloadReferenceNote(value: unknown): string | null {
  return value === true
    ? '--offload_reference_model: not used; ZeRO-Offload would move the reference model to CPU memory, and rlhfkit keeps both models in one process on the chosen backend (host memory except on node-gpu).'
    : null;
}

/** The `dpo train` flags: DeepSpeed-Chat's DPO main.py's (defaults from DPO_DEFAULTS), plus rlhfkit's own. */
export function dpoTrainOptions(y: Argv): Argv<DpoTrainArgs> {
  const { modelNameOrPath: _required, ...defaults } = DPO_DEFAULTS;
  return addDsChatFlags(y, TRAIN_FLAGS, defaults as unknown as Record<string, unknown>)
    .option('beta', BETA)
    .option('label_smoothing', LABEL_SMOOTHING)
    .option('offload_reference_model', {
      alias: 'offload-reference-model', type: 'boolean', default: false, group: FLAG_GROUPS.deepspeed,
      describe: 'ZeRO-Offload for the reference model (no effect: see the note printed at start)',
    })
    .option('reference_model_name_or_path', REFERENCE)
    .option('eval_interval', {
      alias: 'eval-interval', type: 'number', default: DPO_DEFAULTS.evalInterval, group: FLAG_GROUPS.training,
      describe: 'also evaluate every N optimizer steps (DeepSpeed-Chat: only before training and after each epoch; an rlhfkit flag)',
    })
    .check(flagRules(DPO_FLAG_RULES))
    .demandOption('model_name_or_path')
    // argparse semantics: a flag given twice keeps its last value (yargs would otherwise merge the values)
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .strict()
    .example('$0 dpo train --model_name_or_path ./output/step1 --data_path rlhfkit/demo --max_seq_len 128 --output_dir ./output/dpo', 'DPO from a step-1 model on the demo data')
    .epilogue(
      'Batches hold the chosen rows then the rejected rows of step 2\'s data; a token counts in a sequence log-prob when it is not the pad id and ' +
        'comes at or after the pair\'s first chosen/rejected difference (DeepSpeed-Chat\'s mask: with pad = eos, as DeepSpeed-Chat sets it for ' +
        'every non-LLaMA model, eos-id tokens, OPT\'s BOS among them, never count).',
    ) as unknown as Argv<DpoTrainArgs>;
}

/** DpoConfig from parsed `dpo train` flags (before validation). */
export function dpoConfigFromArgs(args: DpoTrainArgs): Partial<DpoConfig> {
  return configFromArgs<DpoConfig>(DPO_DEFAULTS, args);
}

async function runTrain(args: DpoTrainArgs): Promise<void> {
  explainUnsupportedFlags(args, say);
  const note = offloadReferenceNote(args.offload_reference_model);
  if (note) say(`rlhfkit: ${note}`);
  const config = resolveDpoConfig(dpoConfigFromArgs(args));
  // The folder first: a second run into it, or a fresh run over a finished one, is refused before anything loads.
  const claim = claimOutputDir(config.outputDir, { resume: config.resumeFromCheckpoint, overwrite: config.overwriteOutputDir, log: say });
  try {
    await initBackend({ backend: config.backend ?? undefined, threads: config.threads ?? undefined, workload: 'train' });
    const trainer = await DpoTrainer.create(config, { log: say, outputDirClaim: claim });
    try {
      const c = trainer.config;
      say(
        `dpo: policy ${c.modelNameOrPath}, reference ${referencePath(c)}; ${trainer.datasets.train.length} train / ${trainer.datasets.eval.length} eval pairs, ` +
          `${trainer.sampler.batchesPerEpoch} micro-batches per epoch, ${trainer.totalSteps} optimizer steps; beta ${c.beta}, label_smoothing ${c.labelSmoothing}`,
      );
      const r = await trainer.train();
      const curve = r.dpoEvals.map((e) => `step ${e.step}: ${+e.result.acc.toFixed(4)}`).join(', ');
      if (curve) say(`eval reward accuracy: ${curve}`);
      if (r.status === 'completed') say(`saved the DPO policy to ${c.outputDir} (metrics: ${c.outputDir}/metrics.jsonl)`);
      else process.exitCode = 130;
    } finally {
      trainer.dispose();
    }
  } finally {
    claim.release();
  }
}

export const dpoTrainCommand: CommandModule<object, DpoTrainArgs> = {
  command: 'train',
  describe: "DPO from a step-1 model (DeepSpeed-Chat's step2_dpo_finetuning): DeepSpeed-Chat's main.py flags",
  builder: dpoTrainOptions,
  handler: runTrain,
};

type EvalArgs = Record<string, unknown>;

const EVAL_DATA_FLAGS: readonly DsChatFlagName[] = ['data_path', 'data_split', 'data_output_path', 'data_dir', 'add_eot_token', 'eot_token', 'seed', 'per_device_eval_batch_size'];

function dpoEvalOptions(y: Argv): Argv<EvalArgs> {
  const g = 'Answers (AFINN measure):';
  const { modelNameOrPath: _required, ...defaults } = DPO_DEFAULTS;
  return addDsChatFlags(y, EVAL_DATA_FLAGS, defaults as unknown as Record<string, unknown>)
    .option('model_name_or_path', { alias: 'model-name-or-path', type: 'string', demandOption: true, describe: 'the trained policy (a `dpo train` output folder)' })
    .option('reference_model_name_or_path', { ...REFERENCE, describe: "the reference (default: the one recorded in the policy folder's rlhfkit_config.json)" })
    .option('max_seq_len', { alias: 'max-seq-len', type: 'number', describe: "rows are cut to this many tokens (default 512, DeepSpeed-Chat's, or the model's max positions if fewer)" })
    .option('beta', { ...BETA, default: undefined, describe: `${BETA.describe} (default: the policy's recorded value, else ${DPO_DEFAULTS.beta})` })
    .option('label_smoothing', { ...LABEL_SMOOTHING, default: undefined, describe: `${LABEL_SMOOTHING.describe} (default: the policy's recorded value, else 0)` })
    .option('afinn_prompts', {
      alias: 'afinn-prompts', type: 'number', default: 0, group: g,
      describe: "greedy answers of both models to the first N prompts of --data_path's test split, and their mean AFINN-165 valence",
    })
    .option('max_new_tokens', { alias: 'max-new-tokens', type: 'number', default: 24, group: g, describe: 'new tokens per answer at most' })
    .option('repetition_penalty', { alias: 'repetition-penalty', type: 'number', group: g, describe: 'HF repetition penalty (default 1 = off)' })
    .option('show_answers', { alias: 'show-answers', type: 'number', default: 3, group: g, describe: 'print this many answer pairs' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as one JSON object' })
    .option('report_file', { alias: 'report-file', type: 'string', describe: 'also write the report (answers included) to this JSON file' })
    .option('strict', flagOption('strict'))
    .option('backend', flagOption('backend'))
    .option('threads', flagOption('threads'))
    .check(flagRules({
      ...DPO_FLAG_RULES, max_seq_len: { int: true, min: 2 }, afinn_prompts: { int: true, min: 0 }, max_new_tokens: { int: true, min: 0 },
      repetition_penalty: { min: 0, minExclusive: true }, show_answers: { int: true, min: 0 }, threads: { int: true, min: 1 },
    }))
    .strict() as unknown as Argv<EvalArgs>;
}

/** The report as text: DeepSpeed-Chat's eval line, then the accuracies and, with answers, the valence of both models. */
export function formatDpoEvalReport(r: DpoEvalReport, showAnswers = 3): string {
  const e = r.eval;
  const lines = [
    `policy ${r.policy} vs reference ${r.reference}: ${e.pairs} eval pairs, beta ${r.beta}, label_smoothing ${r.labelSmoothing}`,
    formatDpoEval(e),
    `implicit reward accuracy (chosen > rejected): ${e.acc.toFixed(4)}, margin ${e.margin.toPrecision(4)}; the policy's own log-prob prefers the chosen answer in ${(100 * e.logpAcc).toFixed(1)}% of pairs`,
  ];
  if (r.afinn) {
    const { reference: a, policy: b } = r.afinn;
    const v = (x: typeof a): string => `${x.meanValence.toFixed(3)} (positive ${(100 * x.positive).toFixed(0)}%, negative ${(100 * x.negative).toFixed(0)}%, distinct ${(100 * x.distinct).toFixed(0)}%)`;
    lines.push(`mean AFINN valence of greedy answers to ${a.prompts} held-out prompts: reference ${v(a)} -> policy ${v(b)}`);
    for (let i = 0; i < Math.min(showAnswers, a.answers.length); i++) {
      lines.push(`  [ref ${a.valences[i]}] ${a.answers[i]}`, `  [dpo ${b.valences[i]}] ${b.answers[i]}`);
    }
  }
  return lines.join('\n');
}

async function runEval(args: EvalArgs): Promise<void> {
  await initBackend({ backend: args.backend as string | undefined, threads: args.threads as number | undefined });
  const report = await runDpoEval({
    model: args.model_name_or_path as string,
    reference: args.reference_model_name_or_path as string | undefined,
    dataPath: args.data_path as string[],
    dataSplit: args.data_split as string,
    dataDir: args.data_dir as string,
    dataOutputPath: args.data_output_path as string,
    seed: args.seed as number,
    maxSeqLen: args.max_seq_len as number | undefined,
    batchSize: args.per_device_eval_batch_size as number,
    beta: args.beta as number | undefined,
    labelSmoothing: args.label_smoothing as number | undefined,
    addEotToken: args.add_eot_token as boolean,
    eotToken: args.eot_token as string,
    afinnPrompts: args.afinn_prompts as number,
    maxNewTokens: args.max_new_tokens as number,
    repetitionPenalty: args.repetition_penalty as number | undefined,
    strict: args.strict as boolean,
    log: say,
  });
  if (typeof args.report_file === 'string') fs.writeFileSync(args.report_file, `${JSON.stringify(report, null, 1)}\n`);
  process.stdout.write(`${args.json ? JSON.stringify(report) : formatDpoEvalReport(report, args.show_answers as number)}\n`);
}

export const dpoEvalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Score a DPO policy against its reference on the eval split (implicit-reward accuracy), optionally the AFINN valence of their answers',
  builder: dpoEvalOptions,
  handler: runEval,
};

/** `rlhfkit dpo <train|eval>`. */
export const dpoCommand: CommandModule<object, object> = {
  command: 'dpo <command>',
  describe: "DPO (DeepSpeed-Chat's step2_dpo_finetuning): an alternative to steps 2-3",
  builder: (y) => y.command(dpoTrainCommand).command(dpoEvalCommand).demandCommand(1),
  handler: () => undefined,
};
