// `rlhfkit generate` and `rlhfkit plot`, run in-process through yargs: HF-golden ids, GPT-2 text, errors, SVG output.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yargs from 'yargs';
import { initBackend } from './backend/init-backend';
import { generateCommand, plotCommand } from './cli';
import { createModelFromConfig } from './models/load';
import { gpt2Tokenizer } from './tokenizer/load';

const HF_FIXTURES = path.resolve(__dirname, '../../../../shared/fixtures/hf-reference');
const haveFixtures = fs.existsSync(path.join(HF_FIXTURES, 'gpt2', 'golden.json'));
if (!haveFixtures) console.warn(`[skip] HF fixtures not found at ${HF_FIXTURES}; the golden-ids CLI test is skipped`);

/** Runs `rlhfkit <argv>` in this process; returns what it printed on stdout, or throws the command's error. */
async function rlhfkit(argv: string[]): Promise<string> {
  let out = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  try {
    await yargs(argv).command(generateCommand).command(plotCommand).strict().exitProcess(false).fail((msg, err) => {
      throw err ?? new Error(msg);
    }).parseAsync();
  } finally {
    spy.mockRestore();
  }
  return out;
}

let tmp: string;
let withTok: string;
let noTok: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', quiet: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-cli-'));
  withTok = path.join(tmp, 'gpt2-tiny');
  noTok = path.join(tmp, 'gpt2-no-tokenizer');
  // A random tiny GPT-2 over the real GPT-2 vocabulary, saved with and without its tokenizer.
  const raw = { model_type: 'gpt2', vocab_size: 50257, n_embd: 16, n_layer: 1, n_head: 2, n_positions: 64, bos_token_id: 50256, eos_token_id: 50256 };
  const model = createModelFromConfig(raw, { seed: 3, initStd: 0.5 });
  await model.save(withTok, { tokenizer: gpt2Tokenizer() });
  await model.save(noTok);
  model.dispose();
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('rlhfkit generate', () => {
  (haveFixtures ? test : test.skip)('--prompt_ids prints the greedy ids transformers produced (single and batched)', async () => {
    const golden = JSON.parse(fs.readFileSync(path.join(HF_FIXTURES, 'gpt2', 'golden.json'), 'utf8')) as {
      generation: { max_new_tokens: number; single: { prompt: number[]; new_tokens: number[] }[] };
    };
    const [a, b] = golden.generation.single;
    const n = String(golden.generation.max_new_tokens);
    const dir = path.join(HF_FIXTURES, 'gpt2');
    expect(await rlhfkit(['generate', '--model', dir, '--prompt_ids', a.prompt.join(','), '--max_new_tokens', n]))
      .toBe(`${a.new_tokens.join(',')}\n`);
    // Two prompts of different lengths run as one left-padded batch.
    const both = await rlhfkit(['generate', '--model', dir, '--prompt_ids', a.prompt.join(','), '--prompt_ids', b.prompt.join(' '),
      '--max_new_tokens', n, '--json']);
    const rows = both.trim().split('\n').map((l) => JSON.parse(l) as { new_ids: number[]; prompt_ids: number[]; text: null });
    expect(rows.map((r) => r.new_ids)).toEqual([a.new_tokens, b.new_tokens]);
    expect(rows[1].prompt_ids).toEqual(b.prompt);
    expect(rows[0].text).toBeNull();
  });

  test('--prompt text goes through the folder tokenizer; batched output equals each prompt alone', async () => {
    const one = await rlhfkit(['generate', '--model', withTok, '--prompt', 'Hello world', '--max_new_tokens', '6', '--json']);
    const r = JSON.parse(one) as { prompt_ids: number[]; new_ids: number[]; text: string };
    expect(r.prompt_ids).toEqual([15496, 995]); // GPT-2's ids for "Hello world"
    expect(r.new_ids).toHaveLength(6);
    expect(r.text).toBe(await gpt2Tokenizer().decode(r.new_ids, { skipSpecialTokens: true }));
    const plain = await rlhfkit(['generate', '--model', withTok, '--prompt', 'Hello world', '--max_new_tokens', '6']);
    expect(plain).toBe(`${r.text}\n`);
    const other = JSON.parse(await rlhfkit(['generate', '--model', withTok, '--prompt', 'The cat sat on the mat', '--max_new_tokens', '6', '--json'])) as { new_ids: number[] };
    const batch = await rlhfkit(['generate', '--model', withTok, '--prompt', 'Hello world', '--prompt', 'The cat sat on the mat', '--max_new_tokens', '6']);
    const tok = gpt2Tokenizer();
    expect(batch).toBe(`=== 1: "Hello world"\n${r.text}\n=== 2: "The cat sat on the mat"\n${await tok.decode(other.new_ids, { skipSpecialTokens: true })}\n`);
  });

  test('sampling follows --seed, and generation_config.json do_sample switches greedy off unless --no-do_sample', async () => {
    const args = ['generate', '--model', withTok, '--prompt', 'Hello', '--max_new_tokens', '8', '--json'];
    const greedy = JSON.parse(await rlhfkit(args)) as { new_ids: number[] };
    const s1 = JSON.parse(await rlhfkit([...args, '--do_sample', '--top_k', '0', '--seed', '7'])) as { new_ids: number[] };
    const s2 = JSON.parse(await rlhfkit([...args, '--do_sample', '--top_k', '0', '--seed', '7'])) as { new_ids: number[] };
    expect(s2.new_ids).toEqual(s1.new_ids);
    expect(s1.new_ids).not.toEqual(greedy.new_ids); // init std 0.5 makes greedy repeat one token; sampling does not
    const sampling = path.join(tmp, 'gpt2-sampling');
    fs.cpSync(withTok, sampling, { recursive: true });
    fs.writeFileSync(path.join(sampling, 'generation_config.json'), JSON.stringify({ do_sample: true, top_k: 0, eos_token_id: 50256 }));
    const args2 = ['generate', '--model', sampling, '--prompt', 'Hello', '--max_new_tokens', '8', '--seed', '7', '--json'];
    expect((JSON.parse(await rlhfkit(args2)) as { new_ids: number[] }).new_ids).toEqual(s1.new_ids);
    expect((JSON.parse(await rlhfkit([...args2, '--no-do_sample'])) as { new_ids: number[] }).new_ids).toEqual(greedy.new_ids);
  });

  test('a folder without a tokenizer: --prompt is a clear error; --tokenizer or --prompt_ids work', async () => {
    await expect(rlhfkit(['generate', '--model', noTok, '--prompt', 'Hello world'])).rejects.toThrow(/no tokenizer found[\s\S]*--tokenizer DIR[\s\S]*--prompt_ids/);
    const viaTok = await rlhfkit(['generate', '--model', noTok, '--tokenizer', withTok, '--prompt', 'Hello world', '--max_new_tokens', '6']);
    expect(viaTok).toBe(await rlhfkit(['generate', '--model', withTok, '--prompt', 'Hello world', '--max_new_tokens', '6']));
    const ids = await rlhfkit(['generate', '--model', noTok, '--prompt_ids', '15496,995', '--max_new_tokens', '6']);
    expect(ids).toMatch(/^\d+(,\d+){5}\n$/);
    await expect(rlhfkit(['generate', '--model', noTok, '--prompt_ids', '1,x'])).rejects.toThrow(/'x' is not/);
    await expect(rlhfkit(['generate', '--model', noTok])).rejects.toThrow(/at least one --prompt/);
    await expect(rlhfkit(['generate', '--model', noTok, '--prompt_ids', '99999'])).rejects.toThrow(/vocab_size is 50257/);
  });
});

describe('rlhfkit plot', () => {
  test('draws the chosen keys as an SVG; unknown keys name the ones that exist', async () => {
    const file = path.join(tmp, 'run', 'metrics.jsonl');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, [1, 2, 3, 4].map((s) => JSON.stringify({ step: s, time: s, 'train/loss': 4 / s, 'train/lr': 1e-4 * s })).join('\n') + '\n');
    const svgPath = path.join(tmp, 'out', 'loss.svg');
    expect(await rlhfkit(['plot', file, '--out', svgPath])).toBe(`wrote ${svgPath} (train/loss; 4 records)\n`);
    const svg = fs.readFileSync(svgPath, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('train/loss');
    expect(svg).not.toContain('train/lr');
    expect(await rlhfkit(['plot', path.dirname(file), '--keys', 'train/loss,train/lr'])).toBe(`wrote ${path.join(path.dirname(file), 'metrics.svg')} (train/loss, train/lr; 4 records)\n`);
    await expect(rlhfkit(['plot', file, '--keys', 'eval/loss'])).rejects.toThrow(/no metric 'eval\/loss'; it has: train\/loss, train\/lr/);
  });
});
