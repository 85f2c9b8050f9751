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
