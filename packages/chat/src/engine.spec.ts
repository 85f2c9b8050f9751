import * as tf from '@tensorflow/tfjs';
import { initBackend, loadPretrained, type CausalLM } from '@rlhfkit/core-tensor';
import { InProcessEngine, runOnModel, StopFlags, type EngineRequest, type SamplingParams } from './engine';
import { PenaltyProcessor } from './penalties';
import { tinyChatModel, type TinyChatModel } from './testing';

const greedy: SamplingParams = { temperature: 0, topP: 1, topK: 0, repetitionPenalty: 1, minNewTokens: 0 };
const prompt = [367, 388, 272, 25, 289, 127, 102];

describe('running generate() for a batch of rows', () => {
  let fixture: TinyChatModel;
  let model: CausalLM;
  beforeAll(async () => {
    await initBackend({ quiet: true });
    fixture = await tinyChatModel();
    model = (await loadPretrained(fixture.dir, { trainable: false })).eval();
  });
  afterAll(() => {
    model.dispose();
    fixture.remove();
  });

  async function collect(req: EngineRequest, stops = new StopFlags(req.rows.length), onStep?: (step: number, t: number[]) => void): Promise<number[][]> {
    const rows: number[][] = req.rows.map(() => []);
    await runOnModel(model, req, (step, tokens) => {
      tokens.forEach((t, r) => rows[r].push(t));
      onStep?.(step, tokens);
    }, stops);
    return rows;
  }

  it('gives what model.generate gives, step by step, with tensors left as they were', async () => {
    const want = await model.generate(prompt, { maxNewTokens: 12, eosTokenId: [] });
    const before = tf.memory().numTensors;
    const got = await collect({ rows: [{ promptIds: prompt, maxNewTokens: 12 }], sampling: greedy, eos: [], pad: 756 });
    expect(got[0]).toEqual(want.newTokens[0]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops each row at its own limit, and the run when every row has ended', async () => {
    const got = await collect({
      rows: [{ promptIds: prompt, maxNewTokens: 3 }, { promptIds: prompt.slice(2), maxNewTokens: 6 }], sampling: greedy, eos: [], pad: 756,
    });
    expect(got[0]).toHaveLength(6); // the batch runs to the longest row; the caller ignores row 0 after 3
    const stops = new StopFlags(2);
    const steps: number[] = [];
    await collect({ rows: [{ promptIds: prompt, maxNewTokens: 50 }, { promptIds: prompt, maxNewTokens: 50 }], sampling: greedy, eos: [], pad: 756 }, stops, (step) => {
      steps.push(step);
      if (step === 1) stops.set(0);
      if (step === 4) stops.set(1);
    });
    expect(steps).toEqual([0, 1, 2, 3, 4]);
  });

  it('applies logit_bias and presence/frequency penalties inside generate()', async () => {
    const biased = await collect({
      rows: [{ promptIds: prompt, maxNewTokens: 4, penalties: { logitBias: [[42, 100]] } }, { promptIds: prompt, maxNewTokens: 4 }],
      sampling: greedy, eos: [], pad: 756,
    });
    expect(biased[0]).toEqual([42, 42, 42, 42]);
    expect(biased[1]).not.toEqual([42, 42, 42, 42]);
    // The random model's logits are small: a penalty of 2 per repeat makes greedy decoding never repeat a token.
    const before = tf.memory().numTensors;
    const plain = (await model.generate(prompt, { maxNewTokens: 10, eosTokenId: [] })).newTokens[0];
    const [penalized] = await collect({ rows: [{ promptIds: prompt, maxNewTokens: 10, penalties: { frequency: 2 } }], sampling: greedy, eos: [], pad: 756 });
    const [present] = await collect({ rows: [{ promptIds: prompt, maxNewTokens: 10, penalties: { presence: 2 } }], sampling: greedy, eos: [], pad: 756 });
    expect(new Set(plain).size).toBeLessThan(10);
    expect(new Set(penalized).size).toBe(10);
    expect(new Set(present).size).toBe(10);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("reports each chosen token's log-probability from the raw logits, with the top alternatives", async () => {
    const steps: { tokens: number[]; lps: { logprob: number; top: [number, number][] }[] }[] = [];
    const before = tf.memory().numTensors;
    await runOnModel(model, { rows: [{ promptIds: prompt, maxNewTokens: 4 }, { promptIds: prompt, maxNewTokens: 4, penalties: { logitBias: [[42, 100]] } }], sampling: greedy, eos: [], pad: 756, logprobs: 3 },
      (_s, tokens, lps) => steps.push({ tokens, lps: lps! }), new StopFlags(2));
    expect(tf.memory().numTensors).toBe(before);
    // Step 0: both rows saw the same prompt, so the same raw distribution, whatever row 1's bias made it pick.
    expect(steps[0].lps[1].top).toEqual(steps[0].lps[0].top);
    expect(steps[0].tokens[0]).not.toBe(42);
    expect(steps[0].lps[1].logprob).toBeLessThan(steps[0].lps[0].logprob);
    for (const { tokens, lps } of steps) {
      // greedy row 0 chose the most likely token; row 1 was pushed to 42 by logit_bias, which the raw logprobs do not show
      expect(lps[0].top[0]).toEqual([tokens[0], lps[0].logprob]);
      expect(lps[0].top).toHaveLength(3);
      expect(lps[0].top[0][1]).toBeGreaterThanOrEqual(lps[0].top[1][1]);
      expect(tokens[1]).toBe(42);
      const mass = lps[0].top.reduce((a, [, l]) => a + Math.exp(l), 0);
      expect(mass).toBeLessThanOrEqual(1 + 1e-6);
    }
  });

  it('samples reproducibly with a seed', async () => {
    const req: EngineRequest = { rows: [{ promptIds: prompt, maxNewTokens: 8 }], sampling: { ...greedy, temperature: 1.5, seed: 7 }, eos: [], pad: 756 };
    expect(await collect(req)).toEqual(await collect(req));
  });

  it('InProcessEngine reports the model and refuses runs once closed', async () => {
    const engine = new InProcessEngine(model, { maxModelLen: 64 });
    expect(engine.info).toMatchObject({ modelType: 'opt', vocabSize: 760, contextLength: 64, eos: [756], pad: 756 });
    await engine.close();
    await expect(engine.run({ rows: [], sampling: greedy, eos: [], pad: 0 }, () => undefined, new StopFlags(1))).rejects.toThrow(/closed/);
    expect(model.config.vocabSize).toBe(760); // not disposed: the engine did not own it
  });
});

describe('PenaltyProcessor', () => {
  it("keeps OpenAI's per-token offsets: bias - frequency * count - presence * (count > 0)", () => {
    const p = new PenaltyProcessor([{ presence: 0.5, frequency: 0.25, logitBias: [[1, 2]] }, undefined], 4);
    p.observe([1, 3]);
    p.observe([1, 0]);
    p.observe([2, 2]);
    expect(Array.from(p.rowOffsets(0))).toEqual([0, 2 - 0.5 - 0.5, -0.75, 0]);
    expect(Array.from(p.rowOffsets(1))).toEqual([0, 0, 0, 0]);
  });
});
