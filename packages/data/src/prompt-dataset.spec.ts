// Loading real dataset folders (hub layout, HF caches, save_to_disk, local/jsonfile), the 2,4,4 split, blending and SFT-only sets.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { blendParts, loadPhaseParts, type Phase, type Phase1Text, type Phase2Text, type Phase3Text } from './prompt-dataset';
import { loadRawDataset } from './raw-dataset';
import { makeTempDir, removeDir, rmStaticRows, writeArrow, writeJson, writeJsonl, writeParquet, writeText } from './testing';

// numpy: np.random.RandomState(1234).shuffle(np.arange(n)) for the sizes used below.
const PERM_1234 = {
  50: [37, 45, 6, 44, 13, 36, 8, 29, 4, 49, 21, 18, 10, 22, 31, 25, 14, 17, 20, 43, 27, 1, 33, 48, 2, 32, 35, 39, 34, 0, 11, 7, 3, 46, 9, 16, 5, 28, 42, 40, 30, 26, 41, 23, 15, 24, 12, 38, 19, 47],
  10: [7, 2, 9, 1, 0, 8, 4, 5, 6, 3],
  14: [12, 10, 0, 11, 13, 2, 9, 7, 1, 8, 4, 5, 6, 3],
  20: [3, 13, 2, 16, 14, 5, 4, 0, 8, 18, 17, 11, 10, 9, 7, 1, 19, 12, 6, 15],
  30: [7, 10, 4, 1, 28, 8, 3, 23, 14, 13, 22, 24, 0, 2, 27, 26, 18, 5, 16, 25, 11, 9, 17, 29, 20, 12, 21, 6, 19, 15],
};

/** The row number inside "question <tag><n>" / "<tag><n>" texts, to compare orders against numpy. */
const rowOf = (t: string): number => Number(/(\d+)\D*$/.exec(t)![1]);
const p1 = (items: readonly Phase1Text[]): number[] => items.map((x) => rowOf(x.text.replace('<|endoftext|>', '')));

describe('loading and splitting datasets', () => {
  let dir: string;
  let rmPath: string;
  let jsonDir: string;
  const savedEnv = { ...process.env };

  beforeAll(() => {
    dir = makeTempDir();
    rmPath = path.join(dir, 'data', 'Dahoas', 'rm-static');
    writeParquet(path.join(rmPath, 'data', 'train-00000-of-00001-2a1df75c6bce91ab.parquet'), rmStaticRows(50));
    writeParquet(path.join(rmPath, 'data', 'test-00000-of-00001-8c7c51afc6d45980.parquet'), rmStaticRows(10, 't'));
    writeText(path.join(rmPath, 'README.md'), '# not data\n');
    jsonDir = path.join(dir, 'json');
    writeJson(
      path.join(jsonDir, 'train.json'),
      Array.from({ length: 20 }, (_, i) => ({ prompt: `Human: j${i} Assistant:`, chosen: `yes j${i}`, rejected: i === 5 ? null : `no j${i}` })),
    );
    writeJson(path.join(jsonDir, 'eval.json'), Array.from({ length: 8 }, (_, i) => ({ prompt: `Human: je${i} Assistant:`, chosen: `yes je${i}`, rejected: `no je${i}` })));
    process.env.HF_HOME = path.join(dir, 'hf');
    delete process.env.HF_HUB_CACHE;
    delete process.env.HUGGINGFACE_HUB_CACHE;
    delete process.env.HF_DATASETS_CACHE;
  });
  afterAll(() => {
    process.env = savedEnv;
    removeDir(dir);
  });

  it('2,4,4: phase chunks have DeepSpeed-Chat sizes, are disjoint, cover every row, and pick numpy\'s rows', async () => {
    const sizes: number[][] = [];
    const seen: number[][] = [[], []];
    for (const phase of [1, 2, 3] as Phase[]) {
      const parts = await loadPhaseParts({ dataPath: [rmPath], dataSplit: '2,4,4', phase, seed: 1234 });
      sizes.push([parts.train[0].rows, parts.eval[0].rows]);
      const rows = (items: readonly unknown[]): number[] =>
        items.map((x) => rowOf(phase === 1 ? (x as Phase1Text).text : phase === 2 ? (x as Phase2Text).chosen : (x as Phase3Text).prompt));
      seen[0].push(...rows(parts.train[0].items));
      seen[1].push(...rows(parts.eval[0].items));
    }
    expect(sizes).toEqual([[10, 2], [20, 4], [20, 4]]);
    expect(seen[0]).toEqual(PERM_1234[50]); // the chunks, in order, are exactly numpy's permutation
    expect(seen[1]).toEqual(PERM_1234[10]);
  });

  it('phase texts: prompt+chosen+eot (phase 1), chosen/rejected+eot (phase 2), prompt only (phase 3)', async () => {
    const one = await loadPhaseParts({ dataPath: [rmPath], phase: 1 });
    expect(one.train[0].items[0]).toEqual({ text: '\n\nHuman: question 37\n\nAssistant: good answer 37<|endoftext|>', prompt: '\n\nHuman: question 37\n\nAssistant:' });
    const two = await loadPhaseParts({ dataPath: [rmPath], phase: 2, endOfConversationToken: '</s>' });
    expect(two.train[0].items[0]).toEqual({
      chosen: '\n\nHuman: question 21\n\nAssistant: good answer 21</s>',
      rejected: '\n\nHuman: question 21\n\nAssistant: bad answer 21</s>',
    });
    const three = await loadPhaseParts({ dataPath: [rmPath], phase: 3 });
    expect(three.train[0].items[0]).toEqual({ prompt: '\n\nHuman: question 11\n\nAssistant:' });
  });

  it('train-only datasets are first cut 9:1 with the seed (synthetic-instruct-gptj-pairwise, JSONL)', async () => {
    const p = path.join(dir, 'Dahoas', 'synthetic-instruct-gptj-pairwise');
    writeJsonl(path.join(p, 'train.jsonl'), Array.from({ length: 30 }, (_, i) => ({ prompt: `q${i}`, chosen: `a${i}`, rejected: `b${i}` })));
    const raw = await loadRawDataset(p, { seed: 1234 });
    expect([raw.train.length, raw.eval.length]).toEqual([27, 3]);
    expect(raw.eval.map((s) => s.values.prompt)).toEqual(['q6', 'q19', 'q15']); // numpy perm(30)[27:30]
    const parts = await loadPhaseParts({ dataPath: [p], phase: 1 });
    // perm(27)[0:5] = [18,7,4,3,25] indexes the 9:1 train list perm(30)[0:27]
    expect(parts.train[0].items.map((x) => x.text)).toEqual([16, 23, 28, 1, 12].map((i) => ` Human: q${i} Assistant: a${i}<|endoftext|>`));
    expect(parts.eval[0].items.map((x) => x.text)).toEqual([' Human: q6 Assistant: a6<|endoftext|>']);
  });

  it('resolves a hub id from the HF hub cache (refs/main snapshot) and from the datasets Arrow cache', async () => {
    const repo = path.join(dir, 'hf', 'hub', 'datasets--Dahoas--full-hh-rlhf');
    writeParquet(path.join(repo, 'snapshots', 'old', 'data', 'train-00000-of-00001.parquet'), rmStaticRows(3, 'old'));
    writeParquet(path.join(repo, 'snapshots', 'old', 'data', 'test-00000-of-00001.parquet'), rmStaticRows(3, 'old'));
    // As huggingface_hub lays it out: snapshot entries are symlinks into blobs/.
    writeParquet(path.join(repo, 'blobs', 'b1'), rmStaticRows(5, 'h'));
    writeParquet(path.join(repo, 'blobs', 'b2'), rmStaticRows(4, 'h'));
    fs.mkdirSync(path.join(repo, 'snapshots', 'abc123', 'data'), { recursive: true });
    fs.symlinkSync('../../../blobs/b1', path.join(repo, 'snapshots', 'abc123', 'data', 'train-00000-of-00001.parquet'));
    fs.symlinkSync('../../../blobs/b2', path.join(repo, 'snapshots', 'abc123', 'data', 'test-00000-of-00001.parquet'));
    writeText(path.join(repo, 'refs', 'main'), 'abc123');
    const hub = await loadRawDataset('Dahoas/full-hh-rlhf', { seed: 1234 });
    expect([hub.train.length, hub.eval.length]).toEqual([5, 4]);
    expect(hub.files[0]).toContain(path.join('snapshots', 'abc123'));

    const cache = path.join(dir, 'hf', 'datasets', 'yitingxie___rlhf-reward-datasets', 'default', '0.0.0', 'f00d');
    writeArrow(path.join(cache, 'rlhf-reward-datasets-train.arrow'), rmStaticRows(6, 'c'), 'stream');
    writeArrow(path.join(cache, 'rlhf-reward-datasets-test.arrow'), rmStaticRows(2, 'c'), 'stream');
    writeText(path.join(cache, 'dataset_info.json'), '{}');
    const ds = await loadRawDataset('yitingxie/rlhf-reward-datasets', { seed: 1234 });
    expect([ds.train.length, ds.eval.length]).toEqual([6, 2]);
  });

  it('reads a datasets.save_to_disk DatasetDict folder (Arrow IPC stream shards listed in state.json)', async () => {
    const p = path.join(dir, 'saved', 'stanfordnlp', 'SHP');
    const shp = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ history: `h${tag}${i}`, human_ref_A: 'A', human_ref_B: 'B', labels: i % 2 }));
    writeText(path.join(p, 'dataset_dict.json'), JSON.stringify({ splits: ['train', 'validation'] }));
    writeArrow(path.join(p, 'train', 'data-00000-of-00002.arrow'), shp(3, 'a'), 'stream');
    writeArrow(path.join(p, 'train', 'data-00001-of-00002.arrow'), shp(2, 'b'), 'stream');
    writeText(path.join(p, 'train', 'state.json'), JSON.stringify({ _data_files: [{ filename: 'data-00000-of-00002.arrow' }, { filename: 'data-00001-of-00002.arrow' }] }));
    writeArrow(path.join(p, 'validation', 'data-00000-of-00001.arrow'), shp(2, 'v'), 'file');
    const raw = await loadRawDataset(p, { seed: 1234 });
    expect(raw.train.map((s) => s.values.history)).toEqual(['ha0', 'ha1', 'ha2', 'hb0', 'hb1']);
    expect(raw.adapter.promptAndChosen(raw.eval[1])).toBe(' Human: hv1 Assistant: A'); // labels 1: human_ref_A wins
  });

  it('blends several data paths: each split, then concatenated and permuted by get_shuffle_idx(seed, total)', async () => {
    const parts = await loadPhaseParts({ dataPath: [rmPath, 'local/jsonfile'], dataDir: jsonDir, phase: 1 });
    expect(parts.train.map((p) => p.items.length)).toEqual([10, 4]);
    const concat = [...parts.train[0].items, ...parts.train[1].items];
    const blended = blendParts(parts.train, 1234);
    expect(blended).toEqual(PERM_1234[14].map((i) => concat[i]));
    expect(p1(blended).slice(0, 5)).toEqual([2, 3, 37, 13, 16]); // js2, js3, rm37, js13, js16
    // A single path is used in split order, unshuffled, as DeepSpeed-Chat does.
    expect(blendParts([parts.train[0]], 1234)).toEqual(parts.train[0].items);
  });

  it('--sft_only_data_path: used whole in phase 1 only, appended and reshuffled', async () => {
    const one = await loadPhaseParts({ dataPath: [rmPath], sftOnlyDataPath: ['local/jsonfile'], dataDir: jsonDir, phase: 1 });
    expect(one.train.map((p) => [p.sftOnly, p.rows])).toEqual([[false, 10], [true, 20]]);
    expect(one.eval.map((p) => [p.sftOnly, p.rows])).toEqual([[false, 2], [true, 8]]);
    expect(p1(one.train[1].items)).toEqual(PERM_1234[20]); // "10,0,0": the whole set, in perm(20) order
    const blended = blendParts(one.train, 1234);
    expect(blended).toHaveLength(30);
    // perm(30) = [7, 10, 4, 1, 28, ...]: rm[7]=row 29, sft[0]=j3, rm[4]=row 13, rm[1]=row 45, sft[18]=j6
    expect(p1(blended).slice(0, 5)).toEqual([29, 3, 13, 45, 6]);
    const two = await loadPhaseParts({ dataPath: [rmPath], sftOnlyDataPath: ['local/jsonfile'], dataDir: jsonDir, phase: 2 });
    expect(two.train).toHaveLength(1);
  });

  it('rows without a rejected answer are skipped for phase 2 and counted', async () => {
    const two = await loadPhaseParts({ dataPath: ['local/jsonfile'], dataDir: jsonDir, dataSplit: '0,1,0', phase: 2 });
    expect(two.train[0].rows).toBe(20);
    expect(two.train[0].skipped).toBe(1);
    expect(two.train[0].items).toHaveLength(19);
    const one = await loadPhaseParts({ dataPath: ['local/jsonfile'], dataDir: jsonDir, dataSplit: '1,0,0', phase: 1 });
    expect(one.train[0].skipped).toBe(0);
  });

  describe('bad input', () => {
    it('a malformed --data_split fails before any file is read', async () => {
      await expect(loadPhaseParts({ dataPath: ['/nowhere/Dahoas/rm-static'], dataSplit: '2,4', phase: 1 })).rejects.toThrow(/'2,4' has 2 part\(s\)/);
      await expect(loadPhaseParts({ dataPath: ['/nowhere/Dahoas/rm-static'], dataSplit: 'a,b,c', phase: 1 })).rejects.toThrow(/'a' is not a non-negative number/);
    });

    it('an unknown dataset, and a dataset found nowhere (listing where it looked)', async () => {
      await expect(loadRawDataset('someone/else', { seed: 1 })).rejects.toThrow(/no dataset adapter matches --data_path 'someone\/else'/);
      await expect(loadRawDataset('Dahoas/synthetic-instruct-gptj-pairwise-x', { seed: 1 })).rejects.toThrow(
        /was not found locally\. Looked in: .*datasets--Dahoas--synthetic-instruct-gptj-pairwise.*never downloads/,
      );
    });

    it('a missing split, a missing column, a wrong-typed field, an empty split, a missing eval.json', async () => {
      const noTest = path.join(dir, 'bad1', 'Dahoas', 'rm-static');
      writeParquet(path.join(noTest, 'data', 'train-00000-of-00001.parquet'), rmStaticRows(3));
      await expect(loadRawDataset(noTest, { seed: 1 })).rejects.toThrow(/rm-static: no 'test' split found; found split\(s\) train/);

      const noCol = path.join(dir, 'bad2', 'Dahoas', 'rm-static');
      writeParquet(path.join(noCol, 'data', 'train-00000-of-00001.parquet'), [{ prompt: 'p', chosen: 'c' }]);
      writeParquet(path.join(noCol, 'data', 'test-00000-of-00001.parquet'), [{ prompt: 'p', chosen: 'c' }]);
      await expect(loadRawDataset(noCol, { seed: 1 })).rejects.toThrow(/train-00000-of-00001\.parquet: missing column\(s\) 'rejected'; the file has prompt, chosen/);

      const typed = path.join(dir, 'bad3');
      writeJson(path.join(typed, 'train.json'), [{ prompt: 'p', chosen: 'c', rejected: 'r' }, { prompt: 'p', chosen: ['c'], rejected: 'r' }]);
      writeJson(path.join(typed, 'eval.json'), [{ prompt: 'p', chosen: 'c', rejected: 'r' }]);
      await expect(loadPhaseParts({ dataPath: ['local/jsonfile'], dataDir: typed, dataSplit: '1,0,0', phase: 1 })).rejects.toThrow(
        /bad3\/train\.json, item 2 \(line 7\), key 'chosen': expected text \(a string\), found list/,
      );

      const missingKey = path.join(dir, 'bad4');
      writeJsonl(path.join(missingKey, 'train.jsonl'), [{ prompt: 'p', chosen: 'c', rejected: 'r' }, { prompt: 'p', rejected: 'r' }]);
      writeJsonl(path.join(missingKey, 'eval.jsonl'), [{ prompt: 'p', chosen: 'c', rejected: 'r' }]);
      await expect(loadRawDataset('local/jsonfile', { seed: 1, dataDir: missingKey })).rejects.toThrow(/bad4\/train\.jsonl, line 2: missing column 'chosen'/);

      const empty = path.join(dir, 'bad5');
      writeJson(path.join(empty, 'train.json'), [{ prompt: 'p', chosen: 'c', rejected: 'r' }]);
      writeText(path.join(empty, 'eval.json'), '[]');
      await expect(loadRawDataset('local/jsonfile', { seed: 1, dataDir: empty })).rejects.toThrow(/bad5\/eval\.json: the eval split of local\/jsonfile has no rows/);

      fs.rmSync(path.join(empty, 'eval.json'));
      await expect(loadRawDataset('local/jsonfile', { seed: 1, dataDir: empty })).rejects.toThrow(/needs both train\.json and eval\.json .*eval\.json not found/);
    });
  });
});
