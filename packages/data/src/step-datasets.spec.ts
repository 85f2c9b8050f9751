// Tokenized step datasets with the real GPT-2 tokenizer (ids checked against gpt-3-encoder's independent BPE), and the Arrow cache.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gpt2Tokenizer } from '@rlhfkit/core-tensor';
import { collatePhase1, collatePhase3, toRows } from './collators';
import { createStepDatasets } from './step-datasets';
import { makeTempDir, removeDir, writeJson, writeParquet } from './testing';
import type { Phase1Item, Phase2Item, Phase3Item } from './tokenize';

// gpt-3-encoder is a pure-JS GPT-2 BPE, independent of the `tokenizers` binding behind gpt2Tokenizer.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const bpe = require('gpt-3-encoder') as { encode(text: string): number[] };
const EOT = 50256;

const rows = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    prompt: `\n\nHuman: question ${i}${i % 4 === 0 ? ' with a much longer tail of words to push it past the limit' : ''}\n\nAssistant:`,
    chosen: ` good answer ${i}`,
    rejected: ` bad answer ${i}`,
  }));

describe('step datasets (GPT-2 tokenizer)', () => {
  let dir: string;
  let data: string;
  const tok = gpt2Tokenizer();
  tok.padToken = tok.eosToken; // DeepSpeed-Chat's get_tokenizer
  const logs: string[] = [];
  const log = (l: string) => logs.push(l);

  beforeAll(() => {
    dir = makeTempDir();
    data = path.join(dir, 'Dahoas', 'rm-static');
    writeParquet(path.join(data, 'data', 'train-00000-of-00001.parquet'), rows(20));
    writeParquet(path.join(data, 'data', 'test-00000-of-00001.parquet'), rows(10));
  });
  afterAll(() => removeDir(dir));

  it('phase 1: prompt+chosen+eos ids, truncated to max_seq_len and counted; prompt lengths for masking', async () => {
    logs.length = 0;
    const ds = await createStepDatasets({ dataPath: [data], phase: 1, tokenizer: tok, maxSeqLen: 16, maskPrompt: true, log });
    expect(ds.endOfConversationToken).toBe('<|endoftext|>'); // step 1 appends tokenizer.eos_token
    // 2,4,4 of 20 -> phase 1 gets numpy perm(20)[0:4] = [3, 13, 2, 16]
    const expected = [3, 13, 2, 16].map((i) => [...bpe.encode(rows(20)[i].prompt + rows(20)[i].chosen), EOT]);
    expect(ds.train.map((x) => x.inputIds)).toEqual(expected.map((e) => e.slice(0, 16)));
    expect(ds.train.map((x) => x.promptLength)).toEqual([3, 13, 2, 16].map((i) => Math.min(16, bpe.encode(rows(20)[i].prompt).length)));
    expect(ds.stats.train).toEqual({ rows: 4, skipped: 0, truncated: 1, dropped: 0, kept: 4 }); // row 16 has the long tail
    expect(logs.join('\n')).toMatch(/phase 1 train: 4 rows, 4 kept, 1 truncated to 16 tokens/);

    const batch = collatePhase1(ds.train, { padTokenId: tok.padTokenId, maxSeqLen: 16, maskPrompt: true });
    const first = toRows(batch.labels)[0];
    const n = expected[0].length;
    const p = ds.train[0].promptLength;
    expect(first).toEqual([...Array(p).fill(-100), ...expected[0].slice(p), ...Array(16 - n).fill(-100)]);
  });

  it('phase 2: chosen/rejected ids with "<|endoftext|>" appended as the eos id', async () => {
    const ds = await createStepDatasets({ dataPath: [data], phase: 2, tokenizer: tok, maxSeqLen: 64, log });
    const first: Phase2Item = ds.train[0];
    // phase 2 gets numpy perm(20)[4:12]; its first row is 14
    const r = rows(20)[14];
    expect(first.chosenIds).toEqual([...bpe.encode(r.prompt + r.chosen), EOT]);
    expect(first.rejectedIds).toEqual([...bpe.encode(r.prompt + r.rejected), EOT]);
    expect(ds.train).toHaveLength(8);
  });

  it('phase 3: prompts longer than max_prompt_seq_len are dropped and counted; the collator left-pads', async () => {
    logs.length = 0;
    const ds = await createStepDatasets({ dataPath: [data], phase: 3, tokenizer: tok, maxSeqLen: 12, log });
    // phase 3 rows: perm(20)[12:20] = [10, 9, 7, 1, 19, 12, 6, 15]; rows 12 (and any i % 4 == 0) have the long prompt
    const kept = [10, 9, 7, 1, 19, 12, 6, 15].filter((i) => bpe.encode(rows(20)[i].prompt).length <= 12);
    expect(ds.train.map((x: Phase3Item) => x.promptIds)).toEqual(kept.map((i) => bpe.encode(rows(20)[i].prompt)));
    expect(ds.stats.train.dropped).toBe(8 - kept.length);
    expect(ds.stats.train.dropped).toBeGreaterThan(0);
    expect(logs.join('\n')).toMatch(/prompts longer than 12 tokens dropped/);
    const b = collatePhase3(ds.train.slice(0, 1), { padTokenId: tok.padTokenId, maxPromptSeqLen: 12 });
    const ids = ds.train[0].promptIds;
    expect(toRows(b.prompt)[0]).toEqual([...Array(12 - ids.length).fill(EOT), ...ids]);
  });

  describe('tokenized cache', () => {
    const opts = () => ({ dataPath: [data], phase: 1 as const, tokenizer: tok, maxSeqLen: 32, dataOutputPath: path.join(dir, 'cache'), log, tokenizerName: 'gpt2' });

    it('writes Arrow IPC files on the first run and reads them on the next, with the same rows', async () => {
      const a = await createStepDatasets(opts());
      expect(a.cache?.hit).toBe(false);
      expect(path.basename(a.cache!.files.train)).toMatch(/^traindata_[0-9a-f]{64}\.arrow$/);
      expect(fs.readFileSync(a.cache!.files.train).subarray(0, 6).toString('latin1')).toBe('ARROW1');
      const b = await createStepDatasets(opts());
      expect(b.cache?.hit).toBe(true);
      expect(b.train).toEqual(a.train);
      expect(b.eval).toEqual(a.eval);
      expect(b.stats).toEqual(a.stats);
      expect(fs.readdirSync(path.join(dir, 'cache')).filter((f) => f.includes('.tmp-'))).toEqual([]);
    });

    it('--data_reload rebuilds; other settings get other keys', async () => {
      const a = await createStepDatasets(opts());
      const r = await createStepDatasets({ ...opts(), reload: true });
      expect(r.cache?.hit).toBe(false);
      expect(r.cache?.key).toBe(a.cache?.key);
      const keys = await Promise.all([
        createStepDatasets({ ...opts(), maxSeqLen: 33 }),
        createStepDatasets({ ...opts(), seed: 99 }),
        createStepDatasets({ ...opts(), dataSplit: '1,1,1' }),
        createStepDatasets({ ...opts(), tokenizerName: 'other' }),
      ]).then((xs) => xs.map((x) => x.cache!.key));
      expect(new Set([a.cache!.key, ...keys]).size).toBe(5);
    });

    it('an edited data file, a half-written cache or a corrupt cache file is never trusted', async () => {
      const a = await createStepDatasets(opts());
      // Only one of the two files present (a run killed between the renames): rebuilt.
      fs.rmSync(a.cache!.files.eval);
      expect((await createStepDatasets(opts())).cache?.hit).toBe(false);
      // A truncated file: rebuilt.
      fs.writeFileSync(a.cache!.files.train, fs.readFileSync(a.cache!.files.train).subarray(0, 100));
      expect((await createStepDatasets(opts())).cache?.hit).toBe(false);
      expect((await createStepDatasets(opts())).cache?.hit).toBe(true);
      // A changed source file changes the key.
      const f = path.join(data, 'data', 'test-00000-of-00001.parquet');
      writeParquet(f, rows(11));
      const c = await createStepDatasets(opts());
      expect(c.cache?.hit).toBe(false);
      expect(c.cache?.key).not.toBe(a.cache?.key);
      writeParquet(f, rows(10));
    });

    it('local/jsonfile: editing train.json invalidates the cache (DeepSpeed-Chat re-indexes it every run)', async () => {
      const jd = path.join(dir, 'json');
      const mk = (n: number) => Array.from({ length: n }, (_, i) => ({ prompt: `Human: q${i} Assistant:`, chosen: `a${i}`, rejected: `b${i}` }));
      writeJson(path.join(jd, 'train.json'), mk(10));
      writeJson(path.join(jd, 'eval.json'), mk(5));
      const o = { ...opts(), dataPath: ['local/jsonfile'], dataDir: jd };
      const a = await createStepDatasets(o);
      writeJson(path.join(jd, 'train.json'), mk(12));
      const b = await createStepDatasets(o);
      expect(b.cache?.key).not.toBe(a.cache?.key);
      expect(b.stats.train.rows).toBe(2); // 2,4,4 of 12: boundaries [0, 2, 7, 12] (CPython)
      const first: Phase1Item = b.train[0];
      expect(first.inputIds[first.inputIds.length - 1]).toBe(EOT);
    });
  });
});
