// Tiny model folders: the GPT-2 BPE (whole or cut to K merges) and a randomly initialised model that loads back.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadPretrained } from '../models/load';
import { useBackend } from '../testing/backends';
import { loadTokenizer } from '../tokenizer/load';
import { createTinyModel, gpt2TokenizerWithMerges } from './tiny-model';

describe('tiny models', () => {
  useBackend('cpu');

  test('the full GPT-2 BPE gives the known GPT-2 ids', async () => {
    const t = await gpt2TokenizerWithMerges(null);
    expect(await t.encode('Hello world, this is a test.')).toEqual([15496, 995, 11, 428, 318, 257, 1332, 13]);
    expect(t.vocabSize).toBe(50257);
  });

  test('cut to K merges: ids below 256+K, <|endoftext|> = 256+K, and text round-trips', async () => {
    const t = await gpt2TokenizerWithMerges(1000);
    expect(t.vocabSize).toBe(1257);
    expect(t.eosTokenId).toBe(1256);
    const text = 'Hello world, the whale! <|endoftext|>';
    const ids = await t.encode(text);
    expect(ids[ids.length - 1]).toBe(1256);
    expect(ids.every((i) => i >= 0 && i <= 1256)).toBe(true);
    expect(await t.decode(ids)).toBe(text);
    // " the" is GPT-2 merge-built token 262, within the first 1000 merges: the same id as in the full vocabulary
    expect(await t.encode(' the')).toEqual([262]);
  });

  test('createTinyModel writes an HF folder (vocab = tokenizer size rounded up to 8) that loads back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-tiny-'));
    try {
      const info = await createTinyModel(dir, { arch: 'opt', hiddenSize: 16, layers: 1, heads: 2, merges: 1000, maxPositions: 32 });
      expect(info.config.vocab_size).toBe(1264);
      expect(info.tokenizerSize).toBe(1257);
      const m = await loadPretrained(dir);
      expect(m.config.vocabSize).toBe(1264);
      expect(m.numParameters()).toBe(info.numParameters);
      const t = await loadTokenizer(dir);
      expect(t.vocabSize).toBe(1257);
      expect(t.eosToken).toBe('<|endoftext|>');
      m.dispose();
      for (const arch of ['llama', 'gpt2'] as const) {
        const sub = path.join(dir, arch);
        await createTinyModel(sub, { arch, hiddenSize: 16, layers: 1, heads: 2, merges: 100 });
        const mm = await loadPretrained(sub);
        expect(mm.config.modelType).toBe(arch);
        mm.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
