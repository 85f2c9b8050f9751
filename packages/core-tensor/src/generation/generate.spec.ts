// generate(): seeded sampling, top_k=1 == greedy, repetition penalty, several EOS ids, min_new_tokens, defaults.
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '../models/causal-lm';
import { loadPretrained } from '../models/load';
import { fixturesPresent, HF_FIXTURES, readGolden, type Golden } from '../models/parity-suite';
import { useBackend } from '../testing/backends';

const run = fixturesPresent() ? describe : describe.skip;

run('generate on OPT (cpu)', () => {
  useBackend('cpu');
  let model: CausalLM;
  let g: Golden;
  beforeAll(async () => {
    g = readGolden('opt');
    model = await loadPretrained(path.join(HF_FIXTURES, 'opt'));
  });
  afterAll(() => model?.dispose());

  test('seeded sampling is reproducible, differs across seeds and leaks nothing', async () => {
    const prompt = g.generation.single[0].prompt;
    const before = tf.memory().numTensors;
    const a = await model.generate(prompt, { doSample: true, seed: 7, maxNewTokens: 8 });
    const b = await model.generate(prompt, { doSample: true, seed: 7, maxNewTokens: 8 });
    const c = await model.generate(prompt, { doSample: true, seed: 8, maxNewTokens: 8 });
    expect(a.newTokens).toEqual(b.newTokens);
    expect(a.newTokens).not.toEqual(c.newTokens);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('sampling with top_k = 1 is greedy (batch included)', async () => {
    const lp = g.generation.left_padded_batch;
    const out = await model.generate({ inputIds: lp.input_ids, attentionMask: lp.attention_mask }, { doSample: true, topK: 1, seed: 1, maxNewTokens: 10 });
    expect(out.newTokens).toEqual(lp.new_tokens);
  });

  test('ragged prompts are left-padded like the explicit batch', async () => {
    const prompts = g.generation.single.map((s) => s.prompt);
    const out = await model.generate(prompts, { maxNewTokens: 10 });
    expect(out.newTokens).toEqual(g.generation.left_padded_batch.new_tokens);
    expect(out.attentionMask).toEqual(g.generation.left_padded_batch.attention_mask.map((r) => [...r, ...new Array(10).fill(1)]));
  });

  test('repetition penalty follows HF on every id in the row (hand-computed from raw logits)', async () => {
    const prompt = g.generation.single[1].prompt;
    const p = 1.7;
    const out = await model.generate(prompt, { repetitionPenalty: p, outputScores: true, maxNewTokens: 2 });
    const raw = model.forward({ inputIds: [prompt] });
    const v = model.config.vocabSize;
    const last = Array.from(raw.dataSync().subarray((prompt.length - 1) * v, prompt.length * v));
    raw.dispose();
    const expected = last.slice();
    for (const id of new Set(prompt)) expected[id] = last[id] < 0 ? last[id] * p : last[id] / p;
    const got = out.scores![0];
    let worst = 0;
    for (let i = 0; i < v; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
    expect(worst).toBeLessThan(1e-5);
    // the chosen token is the argmax of the penalised scores
    expect(out.newTokens[0][0]).toBe(expected.indexOf(Math.max(...expected)));
  });

  test('several EOS ids: each row stops at its own EOS, later tokens are the pad id, the loop ends early', async () => {
    const lp = g.generation.left_padded_batch;
    const [row0, row1] = lp.new_tokens; // greedy continuations
    const eos = [row0[2], row1[0]];
    expect(row0.slice(0, 2)).not.toContain(eos[1]);
    expect(row0.slice(0, 2)).not.toContain(eos[0]);
    const out = await model.generate({ inputIds: lp.input_ids, attentionMask: lp.attention_mask }, { eosTokenId: eos, padTokenId: 1, maxNewTokens: 10 });
    expect(out.newTokens).toEqual([row0.slice(0, 3), [row1[0], 1, 1]]);
    expect(out.finished).toEqual([true, true]);
  });

  test('min_new_tokens forbids EOS until reached', async () => {
    const s = g.generation.single[0];
    const eos = s.new_tokens[0];
    const stopped = await model.generate(s.prompt, { eosTokenId: eos, maxNewTokens: 5 });
    expect(stopped.newTokens[0]).toEqual([eos]);
    const out = await model.generate(s.prompt, { eosTokenId: eos, minNewTokens: 1, maxNewTokens: 3, outputScores: true });
    expect(out.scores![0][eos]).toBe(-Infinity);
    expect(out.newTokens[0][0]).not.toBe(eos);
  });

  test('defaults: generation_config.json ids and HF max_length 20; onToken can stop early', async () => {
    const s = g.generation.single[0];
    const out = await model.generate(s.prompt);
    expect(out.newTokens[0]).toEqual(s.new_tokens.slice(0, 20 - s.prompt.length));
    const seen: number[][] = [];
    const early = await model.generate(s.prompt, { maxNewTokens: 10, onToken: (t) => (seen.push(t), seen.length < 3) });
    expect(early.newTokens[0]).toEqual(s.new_tokens.slice(0, 3));
    expect(seen).toEqual(s.new_tokens.slice(0, 3).map((t) => [t]));
  });
});
