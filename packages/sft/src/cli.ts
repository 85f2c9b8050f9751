// `rlhfkit sft train|eval` (DeepSpeed-Chat step 1's main.py and prompt_eval.py flags) and `rlhfkit init-model`.
import * as fs from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import {
  addDsChatFlags, claimOutputDir, configFromArgs, createPresetModel, createTinyModel, DATA_FLAG_NAMES, explainUnsupportedFlags, FLAG_GROUPS, flagOption,
  flagRules, initBackend, MODEL_PRESET_NAMES, RM_STATIC_CHAT_TEMPLATE, TINY_ARCHITECTURES, TRAINING_FLAG_NAMES, UsageError, type TinyArchitecture,
} from '@rlhfkit/core-tensor';
import { resolveSftConfig, SFT_DEFAULTS, type SftConfig } from './config';
import { formatBlocks, formatColumns, runPromptEval } from './prompt-eval';
import { PROMPT_LANGUAGES, type PromptLanguage } from './prompts';
import { SftTrainer } from './trainer';

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Parsed `sft train` flags: DeepSpeed-Chat's snake_case names. */
export type SftTrainArgs = Record<string, unknown>;

/** The `sft train` flags: DeepSpeed-Chat step 1's (defaults from SFT_DEFAULTS), plus rlhfkit's own. */
export function sftTrainOptions(y: Argv): Argv<SftTrainArgs> {
  return addDsChatFlags(y, [...DATA_FLAG_NAMES, ...TRAINING_FLAG_NAMES], SFT_DEFAULTS as unknown as Record<string, unknown>)
    .option('mask_prompt', { alias: 'mask-prompt', type: 'boolean', default: SFT_DEFAULTS.maskPrompt, group: FLAG_GROUPS.data, describe: 'leave prompt tokens out of the loss (DeepSpeed-Chat trains on them)' })
    // argparse semantics: a flag given twice keeps its last value (yargs would otherwise merge the values)
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .strict()
    .example('$0 sft train --data_path rlhfkit/demo --model_name_or_path ./tiny-opt --max_seq_len 64 --output_dir ./out', 'fine-tune on the built-in demo data') as unknown as Argv<SftTrainArgs>;
}

/** SftConfig from parsed `sft train` flags (before validation). */
export function sftConfigFromArgs(args: SftTrainArgs): Partial<SftConfig> {
  return configFromArgs<SftConfig>(SFT_DEFAULTS, args);
}

async function runTrain(args: SftTrainArgs): Promise<void> {
  explainUnsupportedFlags(args, say);
  const config = resolveSftConfig(sftConfigFromArgs(args));
  // The folder first: a second run into it, or a fresh run over a finished one, is refused before anything loads.
  const claim = claimOutputDir(config.outputDir, { resume: config.resumeFromCheckpoint, overwrite: config.overwriteOutputDir, log: say });
  try {
    await initBackend({ backend: config.backend ?? undefined, threads: config.threads ?? undefined, workload: 'train' });
    const trainer = await SftTrainer.create(config, { log: say, outputDirClaim: claim });
    try {
      const c = trainer.config;
      say(`sft: ${trainer.datasets.train.length} train / ${trainer.datasets.eval.length} eval rows, ${trainer.sampler.batchesPerEpoch} micro-batches per epoch, ${trainer.totalSteps} optimizer steps`);
      const r = await trainer.train();
      const curve = r.perplexities.map((p) => `epoch ${p.epoch}: ${+p.perplexity.toPrecision(6)}`).join(', ');
      if (curve) say(`eval perplexity: ${curve}`);
      if (r.status === 'completed') say(`saved the fine-tuned model to ${c.outputDir} (metrics: ${c.outputDir}/metrics.jsonl)`);
      else process.exitCode = 130;
    } finally {
      trainer.dispose();
    }
  } finally {
    claim.release();
  }
}

export const sftTrainCommand: CommandModule<object, SftTrainArgs> = {
  command: 'train',
  describe: "Supervised fine-tuning (DeepSpeed-Chat step 1): DeepSpeed-Chat's main.py flags",
  builder: sftTrainOptions,
  handler: runTrain,
};

interface SftEvalArgs {
  model_name_or_path_baseline: string;
  model_name_or_path_finetune: string;
  prompts?: string;
  language: PromptLanguage;
  max_new_tokens: number;
  do_sample: boolean;
  top_k?: number;
  top_p?: number;
  temperature?: number;
  repetition_penalty?: number;
  num_return_sequences: number;
  num_beams: number;
  num_beam_groups: number;
  penalty_alpha?: number;
  seed: number;
  add_eot_token: boolean;
  eot_token: string;
  format: 'blocks' | 'columns' | 'jsonl';
  backend?: string;
  threads?: number;
}

function sftEvalOptions(y: Argv): Argv<SftEvalArgs> {
  const g = 'Generation:';
  return y
    .option('model_name_or_path_baseline', { alias: 'model-name-or-path-baseline', type: 'string', demandOption: true, describe: 'the model before fine-tuning (its tokenizer is used for both)' })
    .option('model_name_or_path_finetune', { alias: 'model-name-or-path-finetune', type: 'string', demandOption: true, describe: 'the fine-tuned model' })
    .option('prompts', { type: 'string', describe: 'prompts file: .txt (one a line), .json (array) or .jsonl; default: the built-in list' })
    .option('language', { type: 'string', choices: [...PROMPT_LANGUAGES], default: 'English', describe: 'which built-in prompt list' })
    .option('max_new_tokens', { alias: 'max-new-tokens', type: 'number', default: 100, group: g, describe: 'new tokens per answer at most' })
    .option('do_sample', { alias: 'do-sample', type: 'boolean', default: false, group: g, describe: 'sample instead of greedy decoding' })
    .option('top_k', { alias: 'top-k', type: 'number', group: g, describe: 'sampling: keep the k most likely tokens (default 50)' })
    .option('top_p', { alias: 'top-p', type: 'number', group: g, describe: 'sampling: nucleus probability (default 1)' })
    .option('temperature', { type: 'number', group: g, describe: 'sampling temperature (default 1)' })
    .option('repetition_penalty', { alias: 'repetition-penalty', type: 'number', group: g, describe: 'HF repetition penalty (default 1 = off)' })
    .option('num_return_sequences', { alias: 'num-return-sequences', type: 'number', default: 1, group: g, describe: 'answers per prompt (needs --do_sample when > 1)' })
    .option('num_beams', { alias: 'num-beams', type: 'number', default: 1, group: g, describe: 'accepted; beam search is not implemented (DeepSpeed-Chat uses it only in commented-out code)' })
    .option('num_beam_groups', { alias: 'num-beam-groups', type: 'number', default: 1, group: g, describe: 'accepted, not used' })
    .option('penalty_alpha', { alias: 'penalty-alpha', type: 'number', group: g, describe: 'accepted, not used (contrastive search is not implemented)' })
    .option('seed', { type: 'number', default: 1234, group: g, describe: 'sampling seed' })
    .option('add_eot_token', flagOption('add_eot_token'))
    .option('eot_token', flagOption('eot_token'))
    .option('format', { type: 'string', choices: ['blocks', 'columns', 'jsonl'], default: 'blocks', describe: "blocks (DeepSpeed-Chat's printout), two columns, or one JSON object per prompt" })
    .option('backend', flagOption('backend'))
    .option('threads', flagOption('threads'))
    .check(flagRules({
      max_new_tokens: { int: true, min: 0 },
      top_k: { int: true, min: 0 },
      top_p: { min: 0, minExclusive: true, max: 1 },
      temperature: { min: 0, minExclusive: true },
      repetition_penalty: { min: 0, minExclusive: true },
      num_return_sequences: { int: true, min: 1 },
      num_beams: { int: true, min: 1 },
      num_beam_groups: { int: true, min: 1 },
      penalty_alpha: { min: 0 },
      seed: { int: true, min: 0 },
      threads: { int: true, min: 1 },
    }))
    .strict() as unknown as Argv<SftEvalArgs>;
}

async function runEval(args: SftEvalArgs): Promise<void> {
  if (args.num_beams > 1 || args.num_beam_groups > 1) say(`rlhfkit: --num_beams ${args.num_beams} / --num_beam_groups ${args.num_beam_groups}: beam search is not implemented; answers are ${args.do_sample ? 'sampled' : 'greedy'}.`);
  if (args.penalty_alpha !== undefined) say('rlhfkit: --penalty_alpha: contrastive search is not implemented; the flag is not used.');
  await initBackend({ backend: args.backend, threads: args.threads });
  const width = Math.min(160, process.stdout.columns || 120);
  await runPromptEval(
    {
      baseline: args.model_name_or_path_baseline,
      finetune: args.model_name_or_path_finetune,
      promptsFile: args.prompts,
      language: args.language,
      maxNewTokens: args.max_new_tokens,
      doSample: args.do_sample,
      topK: args.top_k,
      topP: args.top_p,
      temperature: args.temperature,
      repetitionPenalty: args.repetition_penalty,
      numReturnSequences: args.num_return_sequences,
      seed: args.seed,
      addEotToken: args.add_eot_token,
      eotToken: args.eot_token,
      log: say,
    },
    (row) => {
      const text = args.format === 'jsonl' ? `${JSON.stringify(row)}\n` : args.format === 'columns' ? formatColumns(row, width) : formatBlocks(row, args.do_sample ? 'Sampling' : 'Greedy');
      process.stdout.write(text);
    },
  );
}

export const sftEvalCommand: CommandModule<object, SftEvalArgs> = {
  command: 'eval',
  describe: "Compare a baseline and a fine-tuned model's answers to the same prompts (DeepSpeed-Chat's prompt_eval.py)",
  builder: sftEvalOptions,
  handler: runEval,
};

/** `rlhfkit sft <train|eval>`. */
export const sftCommand: CommandModule<object, object> = {
  command: 'sft <command>',
  describe: 'Step 1: supervised fine-tuning and its prompt evaluation',
  builder: (y) => y.command(sftTrainCommand).command(sftEvalCommand).demandCommand(1),
  handler: () => undefined,
};

interface InitModelArgs {
  out: string;
  preset?: string;
  arch?: TinyArchitecture;
  hidden_size?: number;
  layers?: number;
  heads?: number;
  ffn_dim?: number;
  max_positions?: number;
  merges?: number;
  dropout?: number;
  seed: number;
  tie_word_embeddings?: boolean;
  chat_template?: string;
  force: boolean;
}

/** --chat_template: 'rm-static', a file, or the template itself. */
function chatTemplateArg(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v === 'rm-static') return RM_STATIC_CHAT_TEMPLATE;
  return fs.existsSync(v) && fs.statSync(v).isFile() ? fs.readFileSync(v, 'utf8') : v;
}

/** Flags that set a shape, which a preset fixes (all but --layers, which cuts a preset to fewer layers). */
const SHAPE_FLAGS = ['arch', 'hidden_size', 'heads', 'ffn_dim', 'max_positions', 'merges', 'tie_word_embeddings'] as const;

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

export const initModelCommand: CommandModule<object, InitModelArgs> = {
  command: 'init-model',
  describe: 'Write a randomly initialised model folder with the GPT-2 tokenizer: a small one, or the exact shape of a real checkpoint (--preset)',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'folder to write' })
      .option('preset', {
        type: 'string', choices: MODEL_PRESET_NAMES,
        describe: 'the exact config of facebook/opt-125m, opt-350m, opt-1.3b, or Llama-2-7b cut to 4 layers (weights written as bfloat16)',
      })
      .option('arch', { type: 'string', choices: [...TINY_ARCHITECTURES], describe: 'architecture (default opt)' })
      .option('hidden_size', { alias: 'hidden-size', type: 'number', describe: 'width (default 128)' })
      .option('layers', { type: 'number', describe: "decoder layers (default 2; with --preset, cuts the preset's)" })
      .option('heads', { type: 'number', describe: 'attention heads (default 4)' })
      .option('ffn_dim', { alias: 'ffn-dim', type: 'number', describe: 'MLP width (default 4 x hidden_size)' })
      .option('max_positions', { alias: 'max-positions', type: 'number', describe: 'position table size (default 128)' })
      .option('merges', { type: 'number', describe: 'keep only the first N GPT-2 merges (smaller vocabulary); default all (50257 tokens, vocab 50264)' })
      .option('dropout', { type: 'number', describe: "dropout written to the config (default 0.1; with --preset, the preset's)" })
      .option('seed', { type: 'number', default: 1234 })
      .option('tie_word_embeddings', { alias: 'tie-word-embeddings', type: 'boolean', describe: "share the token embedding with the LM head (default: the architecture's: OPT and GPT-2 tie, LLaMA does not)" })
      .option('chat_template', {
        alias: 'chat-template', type: 'string',
        describe: "a chat template for tokenizer_config.json: 'rm-static' (the \\n\\nHuman: / \\n\\nAssistant: turns of DeepSpeed-Chat's data), a Jinja file, or the template text",
      })
      .option('force', { type: 'boolean', default: false, describe: 'overwrite an existing model folder' })
      .check(flagRules({
        hidden_size: { int: true, min: 1 },
        layers: { int: true, min: 1 },
        heads: { int: true, min: 1 },
        ffn_dim: { int: true, min: 1 },
        max_positions: { int: true, min: 1 },
        merges: { int: true, min: 0, max: 50000 },
        dropout: { min: 0, max: 1, maxExclusive: true },
        seed: { int: true, min: 0 },
      }))
      .check((a) => {
        if (a.preset !== undefined) {
          const given = SHAPE_FLAGS.filter((f) => a[f] !== undefined);
          if (given.length) throw new UsageError(`--preset ${a.preset} fixes the shape; leave out ${given.map((f) => `--${f}`).join(', ')} (only --layers may cut it)`);
          return true;
        }
        const [d, h] = [a.hidden_size ?? 128, a.heads ?? 4];
        if (d % h !== 0) throw new UsageError(`--hidden_size ${d} must be a multiple of --heads ${h}`);
        return true;
      })
      .strict() as unknown as Argv<InitModelArgs>,
  handler: async (a) => {
    if (fs.existsSync(`${a.out}/config.json`) && !a.force) {
      throw new Error(`${a.out} already holds a model (config.json); pass --force to overwrite it`);
    }
    await initBackend({ quiet: true });
    if (a.preset !== undefined) {
      const t0 = performance.now();
      const p = await createPresetModel(a.out, a.preset, { seed: a.seed, layers: a.layers, dropout: a.dropout, chatTemplate: chatTemplateArg(a.chat_template) });
      say(
        `wrote ${a.preset} to ${p.dir}: ${p.numParameters} parameters (${gib(p.weightBytes)} as bfloat16, ${gib(2 * p.weightBytes)} as float32), ` +
          `${String(p.config.num_hidden_layers)} layers, vocab ${String(p.config.vocab_size)}, in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
          `process peak RSS ${gib(process.resourceUsage().maxRSS * 1024)}`,
      );
      return;
    }
    const arch = a.arch ?? 'opt';
    const info = await createTinyModel(a.out, {
      arch, hiddenSize: a.hidden_size ?? 128, layers: a.layers ?? 2, heads: a.heads ?? 4, ffnDim: a.ffn_dim, maxPositions: a.max_positions ?? 128,
      merges: a.merges, dropout: a.dropout ?? 0.1, seed: a.seed, tieWordEmbeddings: a.tie_word_embeddings, chatTemplate: chatTemplateArg(a.chat_template),
    });
    say(`wrote ${arch} model to ${info.dir}: ${info.numParameters} parameters, vocab ${String(info.config.vocab_size)} (tokenizer ${info.tokenizerSize})`);
  },
};
