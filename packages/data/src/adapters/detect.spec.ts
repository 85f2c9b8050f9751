// A folder no adapter name matches is recognised from its columns, says which format it assumed, or fails naming the formats.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataError } from '../errors';
import { loadRawDataset } from '../raw-dataset';
import { resolveAdapter } from './index';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-detect-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function folder(name: string, files: Record<string, readonly object[]>): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, rows] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return dir;
}

const pairs = (n: number, prompt: (i: number) => string): object[] =>
  Array.from({ length: n }, (_, i) => ({ prompt: prompt(i), chosen: ` good ${i}`, rejected: ` bad ${i}` }));

describe('resolveAdapter on a folder no adapter name matches', () => {
  test('prompt/chosen/rejected with the turns in the prompt reads as Dahoas/rm-static, eval from the test split', async () => {
    const dir = folder('my-prefs', {
      'train.jsonl': pairs(6, (i) => `\n\nHuman: question ${i}?\n\nAssistant:`),
      'test.jsonl': pairs(2, (i) => `\n\nHuman: held out ${i}?\n\nAssistant:`),
    });
    const lines: string[] = [];
    const a = await resolveAdapter(dir, (l) => lines.push(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('its columns prompt/chosen/rejected are read as Dahoas/rm-static reads them');
    expect(lines[0]).toContain("eval rows: the 'test' split");
    const raw = await loadRawDataset(dir, { seed: 1234, log: () => undefined });
    expect(raw.train).toHaveLength(6);
    expect(raw.eval).toHaveLength(2);
    expect(a.promptAndChosen(raw.eval[0])).toBe('\n\nHuman: held out 0?\n\nAssistant: good 0');
    expect(a.hasRejected).toBe(true);
  });

  test('bare prompts are wrapped as " Human: ... Assistant:" (synthetic-instruct-gptj-pairwise), a train-only folder cut 9:1', async () => {
    const dir = folder('plain', { 'data.jsonl': pairs(20, (i) => `What is ${i}?`) });
    const lines: string[] = [];
    const raw = await loadRawDataset(dir, { seed: 1234, log: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain('read as Dahoas/synthetic-instruct-gptj-pairwise reads them (each prompt is wrapped');
    expect(lines.join('\n')).toContain("a 9:1 cut of 'train'");
    expect(raw.train.length + raw.eval.length).toBe(20);
    expect(raw.eval).toHaveLength(2);
    const s = raw.train[0];
    expect(raw.adapter.prompt(s)).toMatch(/^ Human: What is \d+\? Assistant:$/);
    expect(raw.adapter.chosen(s)).toMatch(/^ {2}good \d+$/);
  });

  test('prompt/response is an SFT-only format: no rejected answers, said in the line', async () => {
    const rows = Array.from({ length: 4 }, (_, i) => ({ prompt: `Tell me ${i}`, response: `Sure ${i}` }));
    const dir = folder('sft-only', { 'train.jsonl': rows, 'validation.jsonl': rows.slice(0, 2) });
    const lines: string[] = [];
    const a = await resolveAdapter(dir, (l) => lines.push(l));
    expect(a.hasRejected).toBe(false);
    expect(lines[0]).toContain('prompt/response');
    expect(lines[0]).toContain('no rejected answers, so steps 2-3 skip its rows');
    expect(lines[0]).toContain("the 'validation' split");
  });

  test('the most specific format wins: rm-static\'s own layout (prompt/response/chosen/rejected) is a preference set', async () => {
    const rows = pairs(3, (i) => `\n\nHuman: q${i}\n\nAssistant:`).map((r) => ({ ...r, response: ' good' }));
    const lines: string[] = [];
    const a = await resolveAdapter(folder('rm-copy', { 'train.jsonl': rows, 'test.jsonl': rows }), (l) => lines.push(l));
    expect(a.hasRejected).toBe(true);
    expect(lines[0]).toContain('prompt/chosen/rejected');
  });

  test('columns that match no format: a DataError naming the columns and every format', async () => {
    const dir = folder('odd', { 'train.jsonl': [{ question: 'q', answer: 'a' }] });
    const err = await resolveAdapter(dir, () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toContain("no dataset adapter matches --data_path '");
    expect((err as Error).message).toContain('its columns (question, answer) are none of the formats rlhfkit recognises: ');
    expect((err as Error).message).toContain('prompt/chosen/rejected');
  });

  test('a registered name still wins, and a path that is not a folder keeps the old error', async () => {
    const lines: string[] = [];
    expect((await resolveAdapter('Dahoas/rm-static', (l) => lines.push(l))).name).toBe('Dahoas/rm-static');
    expect(lines).toEqual([]);
    await expect(resolveAdapter(path.join(tmp, 'nothing-here'), () => undefined)).rejects.toThrow(/no dataset adapter matches --data_path/);
  });
});
