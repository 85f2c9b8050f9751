// Saves a Tokenizer as a transformers-loadable folder: tokenizer.json, tokenizer_config.json, special_tokens_map.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../io/file-io';
import { tempPathFor, trackTemp } from '../io/temp-files';
import type { Tokenizer } from './tokenizer';
import type { TokenizerJson } from './bpe-json';

function writeAtomic(file: string, text: string): void {
  writeFileAtomic(file, [Buffer.from(text, 'utf8')]);
}

/** JSON with sorted keys (transformers writes its config files with sort_keys=True). */
function sortedJson(obj: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort()) out[k] = obj[k];
  return JSON.stringify(out, null, 2) + '\n';
}

// Config keys save() derives from the tokenizer's state, plus ones that point back at the origin folder.
const DERIVED = [
  'added_tokens_decoder', 'additional_special_tokens', 'bos_token', 'eos_token', 'unk_token', 'pad_token', 'padding_side',
  'truncation_side', 'model_max_length', 'add_bos_token', 'add_eos_token', 'clean_up_tokenization_spaces', 'tokenizer_class',
  'tokenizer_file', 'name_or_path', 'special_tokens_map_file',
];

/** Writes `tok` into `dir`; returns the file names written. */
export function saveTokenizer(tok: Tokenizer, dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];

  // tokenizer.json: what the binding holds now (added tokens, post-processor), minus padding/truncation state.
  const tmp = tempPathFor(path.join(dir, 'tokenizer.json.native'));
  const untrack = trackTemp(tmp);
  let json: TokenizerJson;
  try {
    tok.native.save(tmp, false);
    json = JSON.parse(fs.readFileSync(tmp, 'utf8')) as TokenizerJson;
  } finally {
    fs.rmSync(tmp, { force: true });
    untrack();
  }
  json.padding = null;
  json.truncation = null;
  // Newer `tokenizers` write merges as pairs; "a b" strings load in every version, so use them when no token has a space.
  const merges = json.model.merges;
  if (Array.isArray(merges) && merges.every((m) => Array.isArray(m) && m.length === 2 && !m[0].includes(' ') && !m[1].includes(' '))) {
    json.model.merges = (merges as [string, string][]).map(([a, b]) => `${a} ${b}`);
  }
  if (json.model.ignore_merges === false) delete json.model.ignore_merges;
  writeAtomic(path.join(dir, 'tokenizer.json'), JSON.stringify(json, null, 2) + '\n');
  files.push('tokenizer.json');

  const { special, additional, template } = tok.snapshot();
  const addedDecoder: Record<string, unknown> = {};
  for (const t of json.added_tokens) {
    addedDecoder[String(t.id)] = { content: t.content, lstrip: t.lstrip, normalized: t.normalized, rstrip: t.rstrip, single_word: t.single_word, special: t.special };
  }
  const cfg: Record<string, unknown> = { ...tok.settings.raw };
  for (const k of DERIVED) delete cfg[k];
  Object.assign(cfg, {
    added_tokens_decoder: addedDecoder,
    bos_token: special.bos ?? null,
    eos_token: special.eos ?? null,
    unk_token: special.unk ?? null,
    pad_token: special.pad ?? null,
    padding_side: tok.paddingSide,
    truncation_side: tok.truncationSide,
    clean_up_tokenization_spaces: tok.cleanUpTokenizationSpaces,
    tokenizer_class: tok.settings.tokenizerClass ?? 'PreTrainedTokenizerFast',
  });
  if (additional.length) cfg.additional_special_tokens = additional;
  if (Number.isFinite(tok.modelMaxLength)) cfg.model_max_length = tok.modelMaxLength;
  // The flags travel only when they mean something: rlhfkit owns the post-processor, or the source config had them.
  if (template) {
    cfg.add_bos_token = template.bos;
    cfg.add_eos_token = template.eos;
  } else {
    if (tok.settings.addBosToken !== undefined) cfg.add_bos_token = tok.settings.addBosToken;
    if (tok.settings.addEosToken !== undefined) cfg.add_eos_token = tok.settings.addEosToken;
  }
  writeAtomic(path.join(dir, 'tokenizer_config.json'), sortedJson(cfg));
  files.push('tokenizer_config.json');

  const map: Record<string, unknown> = {};
  for (const name of ['bos', 'eos', 'unk', 'pad'] as const) if (special[name] !== undefined) map[`${name}_token`] = special[name];
  if (additional.length) map.additional_special_tokens = additional;
  writeAtomic(path.join(dir, 'special_tokens_map.json'), sortedJson(map));
  files.push('special_tokens_map.json');

  // Slow transformers tokenizers (GPT2Tokenizer with use_fast=False) read these instead of tokenizer.json.
  if (tok.source === 'vocab-merges' && json.model.type === 'BPE' && Array.isArray(json.model.merges)) {
    writeAtomic(path.join(dir, 'vocab.json'), JSON.stringify(json.model.vocab) + '\n');
    const lines = (json.model.merges as (string | [string, string])[]).map((m) => (Array.isArray(m) ? m.join(' ') : m));
    writeAtomic(path.join(dir, 'merges.txt'), `#version: 0.2\n${lines.join('\n')}\n`);
    files.push('vocab.json', 'merges.txt');
  }
  return files;
}
