// The `rlhfkit data` command group: `data info` (what the data turns into per phase) and `data demo` (build the demo dataset).
import type { Argv, CommandModule } from 'yargs';
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

/** DeepSpeed-Chat's flag names, with kebab-case aliases. */
function infoOptions(y: Argv): Argv<InfoArgs> {
  return y
    .option('data_path', { alias: 'data-path', type: 'string', array: true, default: ['Dahoas/rm-static'], describe: 'dataset names or folders (several are blended)' })
    .option('data_split', { alias: 'data-split', type: 'string', default: DEFAULT_DATA_SPLIT, describe: 'phase 1,2,3 proportions, e.g. 2,4,4' })
    .option('sft_only_data_path', { alias: 'sft-only-data-path', type: 'string', array: true, default: [] as string[], describe: 'datasets used whole in phase 1 only' })
    .option('data_dir', { alias: 'data-dir', type: 'string', default: './data', describe: 'folder with train.json/eval.json for local/jsonfile' })
    .option('seed', { type: 'number', default: DEFAULT_SEED })
    .option('tokenizer', { type: 'string', describe: 'model folder or hub name whose tokenizer to apply (counts truncated/dropped rows)' })
    .option('max_seq_len', { alias: 'max-seq-len', type: 'number', default: 512, describe: 'steps 1-2 sequence length' })
    .option('max_prompt_seq_len', { alias: 'max-prompt-seq-len', type: 'number', default: 256, describe: 'step 3 prompt length' })
    .option('add_eot_token', { alias: 'add-eot-token', type: 'boolean', default: false, describe: 'add --eot_token to the tokenizer as a special token' })
    .option('eot_token', { alias: 'eot-token', type: 'string', default: '<|endoftext|>' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }) as unknown as Argv<InfoArgs>;
}

/** A tokenizer set up as DeepSpeed-Chat's load_hf_tokenizer does (pad = eos when missing; optional eot special token). */
async function loadCliTokenizer(nameOrDir: string, args: InfoArgs): Promise<TokenizerLike> {
  const { loadTokenizer } = await import('@rlhfkit/core-tensor');
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
