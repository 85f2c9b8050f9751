// The `rlhfkit data` command group: `data info` (what the data turns into per phase) and `data demo` (build the demo dataset).
import type { Argv, CommandModule } from 'yargs';
import { addDsChatFlags, loadTokenizer } from '@rlhfkit/core-tensor';
import { ensureDemoDataset, defaultDemoDir } from './demo';
import { dataInfo, formatDataInfo } from './info';
import { DEFAULT_DATA_SPLIT, DEFAULT_SEED } from './prompt-dataset';
import type { TokenizerLike } from './tokenize';

interface InfoArgs {
  data_path: string[];
  data_split: string;
  sft_only_data_path: string[];
  data_dir: string;
  seed: number;
  tokenizer?: string;
  max_seq_len: number;
  max_prompt_seq_len: number;
  add_eot_token: boolean;
  eot_token: string;
  json: boolean;
}

/** DeepSpeed-Chat's flag names, with kebab-case aliases (the shared definitions in core-tensor's run/flags). */
function infoOptions(y: Argv): Argv<InfoArgs> {
  const flags = ['data_path', 'data_split', 'sft_only_data_path', 'data_dir', 'seed', 'max_seq_len', 'max_prompt_seq_len', 'add_eot_token', 'eot_token'] as const;
  return addDsChatFlags(y, flags, { data_split: DEFAULT_DATA_SPLIT, seed: DEFAULT_SEED })
    .option('tokenizer', { type: 'string', describe: 'model folder or hub name whose tokenizer to apply (counts truncated/dropped rows)' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }) as unknown as Argv<InfoArgs>;
}

/** A tokenizer set up as DeepSpeed-Chat's load_hf_tokenizer does (pad = eos when missing; optional eot special token). */
async function loadCliTokenizer(nameOrDir: string, args: InfoArgs): Promise<TokenizerLike> {
  const tok = await loadTokenizer(nameOrDir, { addSpecialTokens: args.add_eot_token ? [args.eot_token] : undefined });
  if (tok.padToken === undefined) tok.padToken = tok.eosToken;
  return tok;
}

async function runInfo(args: InfoArgs): Promise<void> {
  const tokenizer = args.tokenizer ? await loadCliTokenizer(args.tokenizer, args) : undefined;
  const info = await dataInfo({
    dataPath: args.data_path,
    dataSplit: args.data_split,
    sftOnlyDataPath: args.sft_only_data_path,
    dataDir: args.data_dir,
    seed: args.seed,
    tokenizer,
    maxSeqLen: args.max_seq_len,
    maxPromptSeqLen: args.max_prompt_seq_len,
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(args.json ? `${JSON.stringify(info)}\n` : `${formatDataInfo(info)}\n`);
}

export const dataInfoCommand: CommandModule<object, InfoArgs> = {
  command: 'info',
  describe: 'Show how many rows each phase gets from --data_path, and the first rendered example of each',
  builder: infoOptions,
  handler: runInfo,
};

interface DemoArgs {
  out?: string;
}

export const dataDemoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Build the built-in demo preference dataset (if needed) and print its folder',
  builder: (y) => y.option('out', { type: 'string', describe: `folder (default ${defaultDemoDir()})` }) as unknown as Argv<DemoArgs>,
  handler: async (args) => {
    process.stdout.write(`${await ensureDemoDataset(args.out)}\n`);
  },
};

/** `rlhfkit data <info|demo>`. */
export const dataCommand: CommandModule<object, object> = {
  command: 'data <command>',
  describe: 'Inspect datasets and build the demo dataset',
  builder: (y) => y.command(dataInfoCommand).command(dataDemoCommand).demandCommand(1),
  handler: () => undefined,
};
