// prompt_eval: prompts (built-in lists, files), answers equal to the model's own greedy generate, and the printouts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModelForTraining, loadTrainingTokenizer } from '@rlhfkit/core-tensor';
import { formatBlocks, formatColumns, resolvePrompts, runPromptEval, wrap } from './prompt-eval';
import { BUILTIN_PROMPTS, readPromptsFile } from './prompts';
import { makeTempDir, tinyOpt, useWasm } from './testing';

describe('prompt evaluation', () => {
  let root: string;
  let model: string;
  beforeAll(async () => {
    await useWasm();
    root = makeTempDir();
    model = await tinyOpt(root);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test("the built-in lists are DeepSpeed-Chat's six prompts per language", () => {
    for (const lang of ['English', 'Chinese', 'Japanese'] as const) expect(BUILTIN_PROMPTS[lang]).toHaveLength(6);
    expect(resolvePrompts({})[0]).toBe('Human: Please tell me about Microsoft in a few sentence? Assistant:');
    expect(resolvePrompts({ language: 'Chinese' })[3]).toBe('Human: 谁是1955年的美国总统? Assistant:');
    expect(resolvePrompts({ prompts: ['x'], language: 'Japanese' })).toEqual(['x']);
  });

  test('prompt files: .txt lines, .json arrays, .jsonl objects; errors name the file and line', () => {
    const f = (name: string, text: string): string => {
      const p = path.join(root, name);
      fs.writeFileSync(p, text);
      return p;
    };
    expect(readPromptsFile(f('a.txt', 'one\n\ntwo\r\n'))).toEqual(['one', 'two']);
    expect(readPromptsFile(f('b.json', '["one", {"prompt": "two"}]'))).toEqual(['one', 'two']);
    expect(readPromptsFile(f('c.jsonl', '{"prompt": "one"}\n"two"\n'))).toEqual(['one', 'two']);
    expect(() => readPromptsFile(f('d.jsonl', '{"prompt": "one"}\n{"text": 2}\n'))).toThrow(/d\.jsonl: line 2 must be a string or an object with a string "prompt" field/);
    expect(() => readPromptsFile(f('e.txt', '\n\n'))).toThrow(/the file has no prompts/);
    expect(() => readPromptsFile(path.join(root, 'missing.txt'))).toThrow(/--prompts .*missing\.txt: cannot read it \(ENOENT\)/);
  });

  test("answers are the model's own greedy continuation, decoded without special tokens", async () => {
    const prompt = 'Human: How does a telescope work? Assistant:';
    const rows = await runPromptEval({ baseline: model, finetune: model, prompts: [prompt], maxNewTokens: 8 });
    const tok = await loadTrainingTokenizer(model);
    const m = await loadModelForTraining(model, { tokenizer: tok });
    m.eval();
    const ids = await tok.encode(prompt);
    const out = await m.generate([ids], { maxNewTokens: 8 });
    expect(out.newTokens[0]).toHaveLength(8);
    const want = await tok.decode(out.sequences[0], { skipSpecialTokens: true });
    expect(rows).toEqual([{ prompt, baseline: [want], finetune: [want] }]);
    m.dispose();
  });

  test('sampling several answers per prompt is reproducible with a seed', async () => {
    const o = { baseline: model, finetune: model, prompts: ['Human: Hi. Assistant:'], maxNewTokens: 5, doSample: true, topK: 20, numReturnSequences: 3, seed: 7 };
    const [a, b] = [await runPromptEval(o), await runPromptEval(o)];
    expect(a[0].baseline).toHaveLength(3);
    expect(b).toEqual(a);
  });

  test("formatBlocks is DeepSpeed-Chat's printout; formatColumns puts the answers side by side", () => {
    const row = { prompt: 'Human: Q? Assistant:', baseline: ['Human: Q? Assistant: base answer'], finetune: ['Human: Q? Assistant: tuned answer'] };
    expect(formatBlocks(row)).toBe(
      '==========Baseline: Greedy=========\n\nHuman: Q? Assistant: base answer\n\n==========finetune: Greedy=========\n\nHuman: Q? Assistant: tuned answer\n\n' +
        '====================prompt end=============================\n\n',
    );
    const cols = formatColumns(row, 43).split('\n');
    expect(cols[0]).toBe('PROMPT: Human: Q? Assistant:');
    expect(cols[1]).toBe('baseline             | fine-tuned');
    expect(cols[3]).toBe('base answer          | tuned answer');
    expect(wrap('aaaa bbbb cc', 9)).toEqual(['aaaa bbbb', 'cc']);
  });
});
