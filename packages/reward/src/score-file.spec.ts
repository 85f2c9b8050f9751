// Specs for readScoreFile (`rlhfkit reward eval --file`): pairs and single answers from .json / .jsonl, errors by line.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readScoreFile } from './score';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-score-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const PAIR = { prompt: 'Human: hi Assistant:', chosen: ' good day', rejected: ' go away' };
const ANSWER = { prompt: 'Human: hi Assistant:', response: ' hello' };

describe('readScoreFile', () => {
  test('.jsonl and .json list: rows with chosen+rejected are pairs, rows with answer/response are answers', () => {
    const jsonl = path.join(tmp, 's.jsonl');
    fs.writeFileSync(jsonl, `${JSON.stringify(PAIR)}\n\n${JSON.stringify(ANSWER)}\n`);
    const json = path.join(tmp, 's.json');
    fs.writeFileSync(json, JSON.stringify([PAIR, ANSWER], null, 2));
    for (const f of [jsonl, json]) {
      expect(readScoreFile(f)).toEqual({ pairs: [PAIR], answers: [{ prompt: ANSWER.prompt, answer: ANSWER.response }] });
    }
  });

  test('errors name the file and the line or item', () => {
    const f = path.join(tmp, 'bad.jsonl');
    fs.writeFileSync(f, `${JSON.stringify(PAIR)}\n{"prompt": "x", "chosen": }\n`);
    expect(() => readScoreFile(f)).toThrow(`${f}, line 2: malformed JSON`);
    fs.writeFileSync(f, `${JSON.stringify(PAIR)}\n${JSON.stringify({ prompt: 'x', chosen: 'y' })}\n`);
    expect(() => readScoreFile(f)).toThrow(`${f}, line 2: needs "chosen" and "rejected" (a pair) or "answer" (a single answer) next to "prompt"`);
    const g = path.join(tmp, 'bad.json');
    fs.writeFileSync(g, `[\n  ${JSON.stringify(PAIR)},\n  ${JSON.stringify({ chosen: 'y', rejected: 'z' })}\n]`);
    expect(() => readScoreFile(g)).toThrow(`${g}, item 2 (line 3): needs a string "prompt"`);
    expect(() => readScoreFile(path.join(tmp, 'missing.jsonl'))).toThrow(/missing\.jsonl: file not found/);
  });
});
