// `rlhfkit reward train|eval`: DeepSpeed-Chat step 2's main.py and rw_eval.py flags on rlhfkit's trainer and scorer.
import type { Argv, CommandModule } from 'yargs';
import {
  addDsChatFlags, BACKEND_CHOICES, claimOutputDir, configFromArgs, DATA_FLAG_NAMES, explainUnsupportedFlags, flagRules, initBackend, TRAINING_FLAG_NAMES,
  type DsChatFlagName, type OutputDirClaim,
} from '@rlhfkit/core-tensor';
import { afinnReport, heldOutPairs, type AfinnReport } from './afinn-report';
import { resolveRewardConfig, REWARD_DEFAULTS, type RewardConfig } from './config';
import { loadRewardModel } from './load';
import { formatScoredAnswer, formatScoredPair, readScoreFile, RW_EVAL_EXAMPLES, scoreAnswers, scorePairs, type AnswerToScore, type PairToScore } from './score';
import { loadRewardTokenizer } from './tokenizer-setup';
import { RewardTrainer } from './trainer';

type Args = Record<string, unknown>;

const PAD_NOTE =
  'Padding: for OPT the pad token is the eos </s> (id 2), which is also its BOS, as DeepSpeed-Chat sets it; so OPT rows start with one ' +
  'pad-id token and --num_padding_at_beginning is 1. Other models keep their tokenizer\'s own pad token (without one: a new [PAD] ' +
  'for LLaMA, else the eos, as DeepSpeed-Chat does). A saved reward model records its pad id and reuses it. When ' +
  '--num_padding_at_beginning is not given it is detected from the tokenizer (1 for OPT, 0 for GPT-2 and LLaMA; DeepSpeed-Chat ' +
  'always defaults to 1).';

/** The step-2 flags DeepSpeed-Chat's main.py has beyond the shared ones, plus rlhfkit's value-head choices. */
function rewardOptions(y: Argv): Argv {
  return y
    .option('num_padding_at_beginning', {
      alias: 'num-padding-at-beginning', type: 'number', group: 'Model:',
      describe: 'pad-id tokens before the padding proper (1 for OPT, whose BOS is its pad = eos); default: detected from the tokenizer',
    })
    .option('value_head', { alias: 'value-head', type: 'string', group: 'Model:', describe: 'safetensors file with v_head.weight [1, dim] to start from' })
    .option('init_value_head', {
      alias: 'init-value-head', type: 'string', choices: ['linear', 'zeros'], default: REWARD_DEFAULTS.initValueHead, group: 'Model:',
      describe: "how to start the value head when the model has none: 'linear' = torch nn.Linear init (DeepSpeed-Chat), 'zeros'",
    })
    .option('eval_interval', { alias: 'eval-interval', type: 'number', default: REWARD_DEFAULTS.evalInterval, group: 'Training:', describe: 'if > 0, evaluate every this many optimizer steps' })
    .option('eval_iters', { alias: 'eval-iters', type: 'number', default: REWARD_DEFAULTS.evalIters, group: 'Training:', describe: 'at most this many eval batches per evaluation' })
    .check(flagRules({ num_padding_at_beginning: { int: true, min: 0 }, eval_interval: { int: true, min: 0 }, eval_iters: { int: true, min: 1 } }));
}

const TRAIN_FLAGS: readonly DsChatFlagName[] = [...DATA_FLAG_NAMES.filter((f) => f !== 'sft_only_data_path'), ...TRAINING_FLAG_NAMES];

function trainBuilder(y: Argv): Argv {
  // Step 2's defaults where they differ from the shared ones (lr 5e-5, step2_tensorboard); the model path has none.
  const { modelNameOrPath: _required, ...defaults } = REWARD_DEFAULTS;
  const withShared = addDsChatFlags(y, TRAIN_FLAGS, defaults);
  return rewardOptions(withShared).demandOption('model_name_or_path').epilogue(PAD_NOTE);
}

/** The resolved config from parsed flags (flags left out keep REWARD_DEFAULTS). */
export function rewardConfigFromArgs(args: Args): RewardConfig {
  return configFromArgs<RewardConfig>(REWARD_DEFAULTS, args);
}

async function runTrain(args: Args): Promise<void> {
  explainUnsupportedFlags(args);
  const config = resolveRewardConfig(rewardConfigFromArgs(args));
  const log = (l: string): void => void process.stderr.write(`${l}\n`);
  // The folder first: a second run into it, or a fresh run over a finished one, is refused before anything loads.
  const claim: OutputDirClaim | undefined = config.outputDir
    ? claimOutputDir(config.outputDir, { resume: config.resumeFromCheckpoint, overwrite: config.overwriteOutputDir, log })
    : undefined;
  try {
    await initBackend({ backend: args.backend as string | undefined, threads: args.threads as number | undefined, workload: 'train' });
    const trainer = await RewardTrainer.create(config, { log, outputDirClaim: claim });
    try {
      log(`***** Running training ***** (${trainer.trainItems.length} train pairs, ${trainer.evalItems.length} eval pairs, ${trainer.model.numParameters()} parameters)`);
      const r = await trainer.train();
      const last = r.rewardEvals[r.rewardEvals.length - 1];
      if (last) log(`final eval: acc ${last.result.acc}, chosen ${last.result.chosenScore}, rejected ${last.result.rejectedScore}`);
      if (r.savedTo) log(`saved the reward model to ${r.savedTo}`);
      if (r.status === 'interrupted') process.exitCode = 130;
    } finally {
      trainer.dispose();
    }
  } finally {
    claim?.release();
  }
}

export const rewardTrainCommand: CommandModule<object, Args> = {
  command: 'train',
  describe: 'Step 2: train a pairwise reward model (DeepSpeed-Chat step2_reward_model_finetuning/main.py)',
  builder: (y) => trainBuilder(y as Argv) as Argv<Args>,
  handler: runTrain,
};

function evalBuilder(y: Argv): Argv {
  return y
    .option('model_name_or_path', { alias: 'model-name-or-path', type: 'string', demandOption: true, describe: 'a reward model folder (rlhfkit or DeepSpeed-Chat step 2 output)' })
    .option('num_padding_at_beginning', { alias: 'num-padding-at-beginning', type: 'number', describe: 'override the value saved with the model' })
    .option('value_head', { alias: 'value-head', type: 'string', describe: 'score with this v_head.weight file instead of the folder\'s' })
    .option('prompt', { type: 'string', array: true, describe: 'prompt(s); pair each with --chosen and --rejected, or with --answer' })
    .option('chosen', { type: 'string', array: true, describe: 'the better answer of each pair' })
    .option('rejected', { type: 'string', array: true, describe: 'the worse answer of each pair' })
    .option('answer', { type: 'string', array: true, describe: 'single answers to score (run_single_sample)' })
    .option('file', { type: 'string', describe: '.json array or .jsonl of {prompt, chosen, rejected} pairs and/or {prompt, answer} rows' })
    .option('max_seq_len', { alias: 'max-seq-len', type: 'number', describe: "rows are cut to this many tokens (default 512, rw_eval's, or the model's max positions if fewer)" })
    .option('add_eot_token', { alias: 'add-eot-token', type: 'boolean', default: false, describe: 'add --eot_token to the tokenizer as a special token (as in training)' })
    .option('eot_token', { alias: 'eot-token', type: 'string', default: '<|endoftext|>', describe: 'appended to every answer (DeepSpeed-Chat\'s end_of_conversation_token)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object per scored row' })
    .option('afinn_report', {
      alias: 'afinn-report', type: 'boolean', default: false,
      describe: 'score held-out pairs (--file, else the rlhfkit/demo test split) and print accuracy and the correlation of scores with AFINN valence',
    })
    .option('backend', { type: 'string', choices: [...BACKEND_CHOICES], describe: 'compute backend (default: env RLHFKIT_BACKEND, else auto = node-gpu > node > wasm > cpu)' })
    .option('threads', { type: 'number', describe: 'wasm compute threads' })
    .option('strict', { type: 'boolean', default: false, describe: 'fail when the weights hold tensors config.json does not use (default: warn, naming them)' })
    .check(flagRules({ num_padding_at_beginning: { int: true, min: 0 }, max_seq_len: { int: true, min: 2 }, threads: { int: true, min: 1 } }))
    .epilogue('Without --prompt/--file it scores DeepSpeed-Chat rw_eval.py\'s two example pairs. ' + PAD_NOTE);
}

function inputsFromArgs(args: Args): { pairs: PairToScore[]; answers: AnswerToScore[] } {
  const list = (k: string): string[] => (args[k] as string[] | undefined) ?? [];
  const prompts = list('prompt');
  const chosen = list('chosen');
  const rejected = list('rejected');
  const answer = list('answer');
  const pairs: PairToScore[] = [];
  const answers: AnswerToScore[] = [];
  if (chosen.length || rejected.length) {
    if (chosen.length !== prompts.length || rejected.length !== prompts.length) {
      throw new Error(`give one --chosen and one --rejected per --prompt (got ${prompts.length} prompts, ${chosen.length} chosen, ${rejected.length} rejected)`);
    }
    prompts.forEach((p, i) => pairs.push({ prompt: p, chosen: chosen[i], rejected: rejected[i] }));
  } else if (answer.length) {
    if (answer.length !== prompts.length) throw new Error(`give one --answer per --prompt (got ${prompts.length} prompts, ${answer.length} answers)`);
    prompts.forEach((p, i) => answers.push({ prompt: p, answer: answer[i] }));
  } else if (prompts.length) {
    throw new Error('--prompt needs --chosen and --rejected (pairs) or --answer (single answers)');
  }
  if (typeof args.file === 'string') {
    const f = readScoreFile(args.file);
    pairs.push(...f.pairs);
    answers.push(...f.answers);
  }
  if (!pairs.length && !answers.length) pairs.push(...RW_EVAL_EXAMPLES);
  return { pairs, answers };
}

function formatAfinnReport(r: AfinnReport): string {
  return [
    `held-out pairs: ${r.pairs}, accuracy (chosen > rejected): ${r.accuracy.toFixed(4)}`,
    `mean chosen score ${r.meanChosenScore.toFixed(4)}, mean rejected score ${r.meanRejectedScore.toFixed(4)}`,
    `${r.answers} answers: Pearson(score, AFINN valence) = ${r.pearson.toFixed(4)}, Spearman = ${r.spearman.toFixed(4)}`,
  ].join('\n');
}

async function runEval(args: Args): Promise<void> {
  const inputs = args.afinn_report ? { pairs: [], answers: [] } : inputsFromArgs(args);
  await initBackend({ backend: args.backend as string | undefined, threads: args.threads as number | undefined });
  const dir = args.model_name_or_path as string;
  const model = await loadRewardModel(dir, {
    numPaddingAtBeginning: args.num_padding_at_beginning as number | undefined,
    valueHead: args.value_head as string | undefined,
    strict: args.strict as boolean,
  });
  try {
    model.eval();
    const { tokenizer } = await loadRewardTokenizer(dir, model.body.config.modelType, {
      padTokenId: model.padTokenId,
      addEotToken: args.add_eot_token as boolean,
      eotToken: args.eot_token as string,
    });
    const maxSeqLen = (args.max_seq_len as number | undefined) ?? Math.min(512, model.body.config.maxPositions);
    const o = { maxSeqLen, endOfConversationToken: args.eot_token as string };
    const out = (s: string): void => void process.stdout.write(`${s}\n`);
    if (args.afinn_report) {
      const pairs = typeof args.file === 'string' ? readScoreFile(args.file).pairs : await heldOutPairs();
      const r = await afinnReport(model, tokenizer, pairs, o);
      out(args.json ? JSON.stringify(r) : formatAfinnReport(r));
      return;
    }
    for (const s of await scorePairs(model, tokenizer, inputs.pairs, o)) {
      out(args.json ? JSON.stringify({ prompt: s.prompt, chosen: s.chosen, rejected: s.rejected, chosen_score: s.chosenScore, rejected_score: s.rejectedScore }) : formatScoredPair(s));
    }
    for (const s of await scoreAnswers(model, tokenizer, inputs.answers, o)) {
      out(args.json ? JSON.stringify({ prompt: s.prompt, answer: s.answer, score: s.score }) : formatScoredAnswer(s));
    }
  } finally {
    model.dispose();
  }
}

export const rewardEvalCommand: CommandModule<object, Args> = {
  command: 'eval',
  describe: "Score prompt/answer pairs with a trained reward model (DeepSpeed-Chat's rw_eval.py)",
  builder: (y) => evalBuilder(y as Argv) as Argv<Args>,
  handler: runEval,
};

export const rewardCommand: CommandModule<object, object> = {
  command: 'reward',
  describe: 'Step 2: the reward model (train, eval)',
  builder: (y) => y.command(rewardTrainCommand).command(rewardEvalCommand).demandCommand(1, 'Name a subcommand: train or eval'),
  handler: () => undefined,
};
