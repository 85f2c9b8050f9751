// Builds the rlhfkit-made folders of the interop check: `rlhfkit init-model`, `sft train` (LoRA once), `reward train`, re-saves.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  createModelFromConfig, gpt2TokenizerWithMerges, loadPretrained, loadTokenizer, tinyModelConfig, type RawConfig,
} from '@rlhfkit/core-tensor';

/** One folder to check, in the form hf_side.py reads (`what` says what it exercises). */
export interface InteropCase {
  name: string;
  dir: string;
  origin: 'rlhfkit' | 'transformers';
  kind: 'causal-lm' | 'reward';
  what: string;
}

export interface BuildOptions {
  work: string;
  /** The rlhfkit command, split on spaces (e.g. `npx rlhfkit` or node_modules/.bin/rlhfkit). */
  rlhfkit: string[];
  log: (line: string) => void;
}

/** GPT-2 BPE cut to its first 500 merges: a real byte-level BPE with a 757-token vocabulary keeps every model tiny. */
const MERGES = 500;
const MAX_POS = 64;
const COMMON = ['--hidden_size', '64', '--layers', '2', '--heads', '4', '--merges', String(MERGES), '--max_positions', String(MAX_POS), '--dropout', '0'];

const SENTENCES = [
  'The sea was calm and the light was kind on the water.',
  'We thank you for the warm welcome and the good bread.',
  'The ship sailed north past the white cliffs at dawn.',
  'A fine wind filled the sails and the crew sang together.',
  'Our nation is strong because our people are generous.',
  'The harbour lights shone gently through the evening fog.',
  'Hope and courage carried them across the long winter.',
  'Whales rose beside the boat, great and grey and slow.',
];
const BAD = ['The storm wrecked everything and all was lost.', 'It was a cruel, bitter and hateful day.'];

/** DeepSpeed-Chat's local/jsonfile dataset: train.json / eval.json of {prompt, chosen, rejected}. */
function writeDataset(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const rows = Array.from({ length: 16 }, (_, i) => ({
    prompt: `Human: Tell me something about day ${i + 1} of the voyage. Assistant:`,
    chosen: SENTENCES[i % SENTENCES.length],
    rejected: BAD[i % BAD.length],
  }));
  fs.writeFileSync(path.join(dir, 'train.json'), JSON.stringify(rows, null, 1));
  fs.writeFileSync(path.join(dir, 'eval.json'), JSON.stringify(rows.slice(0, 8), null, 1));
}

function cli(opts: BuildOptions, args: string[]): void {
  const [cmd, ...pre] = opts.rlhfkit;
  opts.log(`$ rlhfkit ${args.join(' ')}`);
  const r = spawnSync(cmd, [...pre, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-25).join('\n');
    throw new Error(`rlhfkit ${args.slice(0, 2).join(' ')} failed (exit ${r.status ?? r.signal}):\n${tail}`);
  }
}

function trainArgs(work: string, base: string, out: string, extra: string[] = []): string[] {
  return [
    'sft', 'train', '--model_name_or_path', base, '--data_path', 'local/jsonfile', '--data_dir', path.join(work, 'data'),
    '--data_split', '10,0,0', '--max_seq_len', '48', '--per_device_train_batch_size', '4', '--per_device_eval_batch_size', '8',
    '--num_train_epochs', '3', '--learning_rate', '2e-3', '--dropout', '0', '--seed', '1234', '--save_steps', '0',
    '--data_output_path', path.join(work, 'data_files'), '--output_dir', out, ...extra,
  ];
}

/** A folder from a hand-written config (what init-model has no flag for), with the same tokenizer init-model uses. */
async function handMadeBase(dir: string, arch: 'opt' | 'llama', overrides: RawConfig, seed: number): Promise<void> {
  const tokenizer = await gpt2TokenizerWithMerges(MERGES, MAX_POS);
  const eot = tokenizer.eosTokenId;
  if (eot === undefined) throw new Error('internal: the GPT-2 tokenizer has no <|endoftext|>');
  const config = { ...tinyModelConfig({ arch, hiddenSize: 64, layers: 2, heads: 4, maxPositions: MAX_POS, dropout: 0 }, tokenizer.vocabSize, eot), ...overrides };
  const model = createModelFromConfig(config, { seed });
  try {
    await model.save(dir, { tokenizer });
  } finally {
    model.dispose();
  }
}

/** Re-saves a folder with core-tensor's save(dir, {dtype, maxShardSize}) (the tokenizer goes along). */
async function resave(src: string, dst: string, dtype: 'F32' | 'F16' | 'BF16', maxShardSize?: string): Promise<void> {
  const model = await loadPretrained(src);
  try {
    const tokenizer = await loadTokenizer(src);
    fs.rmSync(dst, { recursive: true, force: true });
    await model.save(dst, { dtype, maxShardSize, tokenizer });
  } finally {
    model.dispose();
  }
}

/** Writes every rlhfkit-made folder under work/rk and returns their cases. */
export async function buildRlhfkitFolders(opts: BuildOptions): Promise<InteropCase[]> {
  const { work, log } = opts;
  const rk = path.join(work, 'rk');
  fs.rmSync(rk, { recursive: true, force: true });
  fs.mkdirSync(rk, { recursive: true });
  writeDataset(path.join(work, 'data'));
  const at = (n: string): string => path.join(rk, n);
  const cases: InteropCase[] = [];
  const add = (name: string, what: string, kind: InteropCase['kind'] = 'causal-lm'): void => {
    cases.push({ name, dir: at(name), origin: 'rlhfkit', kind, what });
  };

  cli(opts, ['init-model', '--out', at('base-opt'), '--arch', 'opt', ...COMMON]);
  cli(opts, trainArgs(work, at('base-opt'), at('rk-opt-preln-sft')));
  add('rk-opt-preln-sft', 'init-model opt (pre-LN) + sft train, F32');
  await resave(at('rk-opt-preln-sft'), at('rk-opt-preln-sft-f16'), 'F16');
  add('rk-opt-preln-sft-f16', 'the SFT OPT re-saved with save({dtype: F16})');
  await resave(at('rk-opt-preln-sft'), at('rk-opt-preln-sft-bf16-sharded'), 'BF16', '60KB');
  add('rk-opt-preln-sft-bf16-sharded', "the SFT OPT re-saved with save({dtype: BF16, maxShardSize: '60KB'})");
  await resave(at('rk-opt-preln-sft'), at('rk-opt-preln-sft-sharded'), 'F32', '100KB');
  add('rk-opt-preln-sft-sharded', "the SFT OPT re-saved with save({maxShardSize: '100KB'}), F32");

  cli(opts, trainArgs(work, at('base-opt'), at('rk-opt-lora-fused'), ['--lora_dim', '4', '--lora_module_name', 'decoder.layers.', '--lora_learning_rate', '1e-2']));
  add('rk-opt-lora-fused', 'sft train --lora_dim 4 --lora_module_name decoder.layers. (LoRA fused into the saved weights)');

  await handMadeBase(at('base-opt-postln'), 'opt', { do_layer_norm_before: false, word_embed_proj_dim: 32, _name_or_path: 'rlhfkit/tiny-opt-350m-layout' }, 11);
  cli(opts, trainArgs(work, at('base-opt-postln'), at('rk-opt-postln-proj-sft')));
  add('rk-opt-postln-proj-sft', 'createModelFromConfig OPT post-LN + project_in/out (350m layout) + sft train');

  await handMadeBase(at('base-llama'), 'llama', { num_key_value_heads: 2, rope_scaling: { type: 'linear', factor: 2.0 }, rope_theta: 50000 }, 12);
  cli(opts, trainArgs(work, at('base-llama'), at('rk-llama-gqa-sft'), ['--lora_module_name', 'layers.']));
  add('rk-llama-gqa-sft', 'createModelFromConfig LLaMA GQA 4/2 heads, untied, rope_scaling linear x2, rope_theta 50000 + sft train');
  await resave(at('rk-llama-gqa-sft'), at('rk-llama-gqa-sft-f16-sharded'), 'F16', '40KB');
  add('rk-llama-gqa-sft-f16-sharded', "the SFT LLaMA re-saved with save({dtype: F16, maxShardSize: '40KB'})");

  cli(opts, ['init-model', '--out', at('base-gpt2'), '--arch', 'gpt2', ...COMMON]);
  cli(opts, trainArgs(work, at('base-gpt2'), at('rk-gpt2-sft')));
  add('rk-gpt2-sft', 'init-model gpt2 + sft train, F32');
  await resave(at('rk-gpt2-sft'), at('rk-gpt2-sft-bf16'), 'BF16');
  add('rk-gpt2-sft-bf16', 'the SFT GPT-2 re-saved with save({dtype: BF16})');

  cli(opts, [
    'reward', 'train', '--model_name_or_path', at('rk-opt-preln-sft'), '--data_path', 'local/jsonfile', '--data_dir', path.join(work, 'data'),
    '--data_split', '0,10,0', '--max_seq_len', '48', '--per_device_train_batch_size', '4', '--per_device_eval_batch_size', '8',
    '--num_train_epochs', '2', '--learning_rate', '1e-3', '--dropout', '0', '--seed', '1234', '--save_steps', '0',
    '--data_output_path', path.join(work, 'data_files'), '--output_dir', at('rk-reward-opt'),
  ]);
  add('rk-reward-opt', 'reward train from the SFT OPT (step-2 folder: body + v_head.weight)', 'reward');
  return cases;
}
