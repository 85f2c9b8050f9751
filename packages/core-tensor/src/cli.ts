// @rlhfkit/core-tensor/cli: the `rlhfkit generate` and `rlhfkit plot` commands, runCli and the shared flag machinery.
import type { Argv, CommandModule } from 'yargs';
import { backendCliOptions } from './backend/cli-options';
import { formatGenerateResults, runGenerate, type GenerateCliArgs } from './cli-generate';
import { launchCommand } from './cli-launch';
import { plotMetricsFile, splitKeys } from './cli-plot';
import { flagRules } from './run/cli-checks';

function generateOptions(y: Argv): Argv<GenerateCliArgs> {
  return y
    .option('model', { alias: ['model_name_or_path', 'model-name-or-path'], type: 'string', demandOption: true, describe: 'HF model folder (or hub-cache name)' })
    .option('prompt', { type: 'string', array: true, describe: 'prompt text; repeat for a batch' })
    .option('prompt_ids', { alias: 'prompt-ids', type: 'string', array: true, describe: 'prompt as token ids "1,2,3" (prints ids; no tokenizer needed)' })
    .option('tokenizer', { type: 'string', describe: 'folder with the tokenizer (default: the model folder)' })
    .option('max_new_tokens', { alias: 'max-new-tokens', type: 'number', describe: 'new tokens at most (default: generation_config.json, else max_length 20)' })
    .option('min_new_tokens', { alias: 'min-new-tokens', type: 'number', describe: 'EOS is not allowed before this many new tokens' })
    .option('do_sample', { alias: 'do-sample', type: 'boolean', describe: 'sample instead of greedy (default: generation_config.json, else greedy)' })
    .option('temperature', { type: 'number', describe: 'sampling temperature (default 1)' })
    .option('top_k', { alias: 'top-k', type: 'number', describe: 'sampling: keep the k most likely tokens (default 50, 0 = off)' })
    .option('top_p', { alias: 'top-p', type: 'number', describe: 'sampling: nucleus probability (default 1 = off)' })
    .option('repetition_penalty', { alias: 'repetition-penalty', type: 'number', describe: 'HF repetition penalty (default 1 = off)' })
    .option('seed', { type: 'number', describe: 'sampling seed (reproducible output)' })
    .option('json', { type: 'boolean', describe: 'print one JSON object per prompt' })
    .option('strict', { type: 'boolean', describe: "fail when the weights hold tensors config.json does not use (default: warn, naming them)" })
    .options(backendCliOptions)
    .check(flagRules({
      max_new_tokens: { int: true, min: 0 },
      min_new_tokens: { int: true, min: 0 },
      temperature: { min: 0, minExclusive: true },
      top_k: { int: true, min: 0 },
      top_p: { min: 0, minExclusive: true, max: 1 },
      repetition_penalty: { min: 0, minExclusive: true },
      seed: { int: true, min: 0 },
      threads: { int: true, min: 1 },
    })) as unknown as Argv<GenerateCliArgs>;
}

export const generateCommand: CommandModule<object, GenerateCliArgs> = {
  command: 'generate',
  describe: 'Continue prompts with a causal LM (KV cache; greedy unless --do_sample or generation_config.json says so)',
  builder: generateOptions,
  handler: async (args) => {
    const results = await runGenerate(args, { log: (l) => process.stderr.write(`${l}\n`) });
    process.stdout.write(formatGenerateResults(results, Boolean(args.json)));
  },
};

interface PlotArgs {
  metrics: string;
  out?: string;
  keys?: string[];
  title?: string;
  log_y?: boolean;
  width?: number;
  height?: number;
}

export const plotCommand: CommandModule<object, PlotArgs> = {
  command: 'plot <metrics>',
  describe: 'Draw metrics.jsonl (or a run folder) as an SVG line chart',
  builder: (y) => y
    .positional('metrics', { type: 'string', demandOption: true, describe: 'metrics.jsonl, or the run folder that holds one' })
    .option('out', { alias: 'o', type: 'string', describe: 'SVG to write (default: metrics.svg beside the input)' })
    .option('keys', { type: 'string', array: true, describe: 'metrics to draw, e.g. --keys train/loss eval/loss (default: every *loss*)' })
    .option('title', { type: 'string' })
    .option('log_y', { alias: 'log-y', type: 'boolean', describe: 'logarithmic y axis' })
    .option('width', { type: 'number', describe: 'chart width in pixels' })
    .option('height', { type: 'number', describe: 'chart height in pixels' })
    .check(flagRules({ width: { int: true, min: 50 }, height: { int: true, min: 50 } })) as unknown as Argv<PlotArgs>,
  handler: (args) => {
    const r = plotMetricsFile({
      input: args.metrics, out: args.out, keys: splitKeys(args.keys), title: args.title, logY: args.log_y, width: args.width, height: args.height,
    });
    process.stdout.write(`wrote ${r.out} (${r.keys.join(', ')}; ${r.records} records)\n`);
  },
};

/** Every core-tensor subcommand, for apps/rlhfkit/src/commands.ts. */
export const coreTensorCommands = [generateCommand, plotCommand, launchCommand];
// `rlhfkit launch`: a command on several ranks through Open MPI's mpirun (DeepSpeed's launcher).
export { launchCommand, type LaunchArgs } from './cli-launch';

// The command-line machinery every package's cli.ts builds on (yargs-typed, so kept off the library entry).
export { runCli, type RunCliOptions } from './run/cli-main';
export { describeCommands, findCommand, leafCommands, type CommandInfo, type FlagInfo } from './run/cli-introspect';
export * from './run/cli-checks';
export * from './run/flags';
export { UsageError } from './run/cli-errors';
export { backendCliOptions, type BackendCliArgs } from './backend/cli-options';
