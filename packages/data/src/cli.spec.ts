// `rlhfkit data info` end to end through yargs: the --json counts, tokenized drop/truncation counts, and the text report.
import * as path from 'node:path';
import { gpt2Tokenizer } from '@rlhfkit/core-tensor';
import yargs from 'yargs';
import { dataCommand } from './cli';
import { makeTempDir, removeDir, rmStaticRows, writeJson, writeParquet } from './testing';

async function run(argv: string[]): Promise<string> {
  let out = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await yargs(argv).command(dataCommand).strict().fail((msg, e) => { throw e ?? new Error(msg); }).parseAsync();
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
  return out;
}

describe('rlhfkit data info', () => {
  let dir: string;
  let rm: string;
  let jsonDir: string;
  beforeAll(() => {
    dir = makeTempDir();
    rm = path.join(dir, 'Dahoas', 'rm-static');
    writeParquet(path.join(rm, 'data', 'train-00000-of-00001.parquet'), rmStaticRows(50));
    writeParquet(path.join(rm, 'data', 'test-00000-of-00001.parquet'), rmStaticRows(10, 't'));
    jsonDir = path.join(dir, 'json');
    writeJson(path.join(jsonDir, 'train.json'), Array.from({ length: 7 }, (_, i) => ({ prompt: `Human: q${i} Assistant:`, chosen: `a${i}`, rejected: null })));
    writeJson(path.join(jsonDir, 'eval.json'), Array.from({ length: 3 }, (_, i) => ({ prompt: `Human: e${i} Assistant:`, chosen: `a${i}`, rejected: 'b' })));
  });
  afterAll(() => removeDir(dir));

  it('--json prints counts {train: [p1,p2,p3], eval: [...]} after the split (sft-only rows count in phase 1)', async () => {
    const out = await run(['data', 'info', '--data_path', rm, '--sft_only_data_path', 'local/jsonfile', '--data_dir', jsonDir, '--json']);
    const info = JSON.parse(out);
    // 2,4,4 of 50 -> 10/20/20 and of 10 -> 2/4/4; the SFT-only set adds its 7 train and 3 eval rows to phase 1.
    expect(info.counts).toEqual({ train: [17, 20, 20], eval: [5, 4, 4] });
    expect(info.phases[0].example.text).toMatch(/<\|endoftext\|>$/);
  });

  it('counts rows skipped for phase 2 (null rejected) in the report', async () => {
    const out = await run(['data', 'info', '--data_path', 'local/jsonfile', '--data_dir', jsonDir, '--data_split', '1,1,1']);
    expect(out).toMatch(/phase 2: step 2 \(reward model\)\n {2}train 2 rows, 2 skipped \(no text for this phase\)/);
    expect(out).toMatch(/phase 3: step 3 \(PPO prompts\)\n {2}train 2 rows\n/);
    expect(out).toContain('first example: " Human: q');
  });

  it('with --tokenizer reports truncated and dropped rows', async () => {
    const tdir = path.join(dir, 'gpt2');
    gpt2Tokenizer().save(tdir);
    const out = await run(['data', 'info', '--data_path', rm, '--tokenizer', tdir, '--max_seq_len', '8', '--max_prompt_seq_len', '9', '--json']);
    const info = JSON.parse(out);
    // every phase-1/2 text is longer than 8 GPT-2 tokens; every prompt is 10-11 tokens > 9
    expect(info.phases[0].train.tokenized).toEqual({ rows: 10, skipped: 0, truncated: 10, dropped: 0, kept: 10 });
    expect(info.phases[1].train.tokenized.truncated).toBe(20);
    expect(info.phases[2].train.tokenized).toEqual({ rows: 20, skipped: 0, truncated: 0, dropped: 20, kept: 0 });
    expect(info.phases[0].exampleTokens).toBe(8);
  });

  it('bad flags fail with the expected form', async () => {
    await expect(run(['data', 'info', '--data_path', rm, '--data_split', '2,4'])).rejects.toThrow(/expected 3 comma-separated proportions/);
  });
});
