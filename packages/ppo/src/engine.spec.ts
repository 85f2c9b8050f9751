// The engine on tiny real models: cached fused-LoRA generation = a no-cache greedy loop, exact weight restore, leak-free steps.
import * as tf from '@tensorflow/tfjs';
import { createTinyModel, loadModelForTraining, loadTrainingTokenizer, type CausalLM } from '@rlhfkit/core-tensor';
import { useBackend } from '../../core-tensor/src/testing/backends';
import { PPO_DEFAULTS, resolvePpoConfig } from './config';
import { RlhfEngine } from './engine';
import { HeapMeter, LocalActor } from './local-roles';
import { intFromRows, matrixRows, notEqualMask } from './matrix';
import { promptBatch } from './ppo-loop';
import { PpoTrainer } from './ppo-trainer';
import { RoleOptimizer } from './role-optimizer';
import { trainerSettings } from './ppo-setup';
import { makeTinyRlhfModels, type TinyRlhfModels } from './testing';

/** HF's greedy search without a cache: the whole sequence each step, positions cumsum(mask) - 1 (pads: 1). */
function noCacheGreedy(model: CausalLM, prompts: number[][], mask: number[][], n: number, pad: number, eos: number): number[][] {
  const seqs = prompts.map((r) => r.slice());
  const m = mask.map((r) => r.slice());
  const done = seqs.map(() => false);
  for (let s = 0; s < n && !done.every(Boolean); s++) {
    const pos = m.map((r) => {
      let c = 0;
      return r.map((x) => (x ? ++c - 1 : 1));
    });
    const next = tf.tidy(() => {
      const logits = model.forward({ inputIds: seqs, attentionMask: m, positionIds: pos });
      const [b, l, v] = logits.shape;
      return Array.from(tf.argMax(tf.reshape(tf.slice(logits, [0, l - 1, 0], [b, 1, v]), [b, v]), 1).dataSync());
    });
    next.forEach((tok, i) => {
      const t = done[i] ? pad : tok;
      seqs[i].push(t);
      m[i].push(1);
      if (t === eos) done[i] = true;
    });
  }
  return seqs;
}

describe('RlhfEngine on tiny models [wasm]', () => {
  useBackend('wasm');
  let models: TinyRlhfModels;
  beforeAll(async () => {
    models = await makeTinyRlhfModels();
  });
  afterAll(() => models.cleanup());

  for (const arch of ['opt', 'llama'] as const) {
    test(`${arch}: generation with LoRA fused + KV cache = a no-cache greedy loop of the unfused model; weights restored bit for bit`, async () => {
      const dir = `${models.root}/${arch}-gen`;
      await createTinyModel(dir, { arch, hiddenSize: 32, layers: 2, heads: 2, maxPositions: 64, merges: 300, dropout: 0, seed: 3 });
      const tok = await loadTrainingTokenizer(dir);
      const model = await loadModelForTraining(dir, { tokenizer: tok });
      const { applyLora, loraLayers } = await import('@rlhfkit/core-tensor');
      applyLora(model, { loraDim: 4, loraModuleName: arch === 'opt' ? 'decoder.layers.' : 'layers.', onlyOptimizeLora: true, seed: 5 }, () => undefined);
      // Non-zero LoRA products, so fusing matters.
      for (const a of loraLayers(model).values()) tf.tidy(() => a.left.assign(tf.randomNormal(a.left.shape, 0, 0.5, 'float32', 9)));
      const opt = new RoleOptimizer('actor', model.trainableParameters(), { learningRate: 1e-3, loraLearningRate: 1e-3, weightDecay: 0, schedule: 'constant', warmupSteps: 0, totalSteps: 1, accumulationSteps: 1, maxGradNorm: 1 });
      const actor = new LocalActor({ model, optimizer: opt, tokenizer: tok, ema: null, meter: new HeapMeter() });
      const pad = tok.padTokenId!;
      const prompts = [[pad, pad, 40, 41, 42], [50, 51, 52, 53, 54]];
      const mask = [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]];
      const before = new Map([...model.namedParameters()].map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
      model.eval();
      const cached = await actor.generate(intFromRows(prompts), intFromRows(mask), { maxNewTokens: 8, padTokenId: pad, doSample: false });
      for (const [k, v] of model.namedParameters()) expect(Array.from(v.dataSync())).toEqual(Array.from(before.get(k)!));
      const loop = noCacheGreedy(model, prompts, mask, 8, pad, tok.eosTokenId!);
      expect(matrixRows(cached)).toEqual(loop.map((r) => r.concat(new Array(cached.shape[1] - r.length).fill(pad))));
      await actor.dispose();
    });
  }

  test("--pad_to longest gives DeepSpeed-Chat's max_length experience (same answers, scores and log-probs up to rounding)", async () => {
    const c = resolvePpoConfig({ ...PPO_DEFAULTS, actorModelNameOrPath: models.actor, criticModelNameOrPath: models.critic, maxAnswerSeqLen: 6, maxPromptSeqLen: 24 });
    const tokenizer = await loadTrainingTokenizer(models.actor);
    const engine = await RlhfEngine.create(c, { tokenizer, numTotalIters: 1, unsupervised: false, log: () => undefined });
    const trainer = new PpoTrainer(engine, trainerSettings(c, engine, tokenizer, () => undefined));
    const items = (await tokenizer.encodeBatch(['Human: say hi. Assistant:', 'Human: a longer question, please? Assistant:'], { padding: false })).inputIds.map((promptIds) => ({ promptIds }));
    const pad = tokenizer.padTokenId!;
    const exps = [];
    for (const padTo of ['longest', 'max_length'] as const) {
      const b = promptBatch(items, { maxPromptSeqLen: 24, padTo }, pad);
      exps.push(await trainer.generateExperience(b.prompt, b.mask, 0));
    }
    const [a, m] = exps;
    const cut = m.inputIds.shape[1] - a.inputIds.shape[1];
    expect(cut).toBeGreaterThan(0);
    expect(matrixRows(m.inputIds).map((r) => r.slice(cut))).toEqual(matrixRows(a.inputIds));
    for (let i = 0; i < 2; i++) expect(Math.abs(a.rewards[i] - m.rewards[i])).toBeLessThan(1e-4);
    const lpA = matrixRows(a.logprobs);
    const lpM = matrixRows(m.logprobs).map((r) => r.slice(cut));
    const start = a.prompts.shape[1] - 1;
    for (let i = 0; i < 2; i++) for (let t = start; t < lpA[i].length; t++) expect(Math.abs(lpA[i][t] - lpM[i][t])).toBeLessThan(1e-4);
    await engine.dispose();
  });

  test('20 PPO steps leave no tensor behind; roles report their memory', async () => {
    const c = resolvePpoConfig({
      ...PPO_DEFAULTS,
      actorModelNameOrPath: models.actor,
      criticModelNameOrPath: models.critic,
      perDeviceGenerationBatchSize: 2,
      perDeviceTrainingBatchSize: 2,
      maxAnswerSeqLen: 6,
      doSample: true,
      actorLoraDim: 4,
      enableEma: true,
      actorDropout: 0.1,
    });
    const tokenizer = await loadTrainingTokenizer(models.actor);
    const engine = await RlhfEngine.create(c, { tokenizer, numTotalIters: 20, unsupervised: false, log: () => undefined });
    const trainer = new PpoTrainer(engine, trainerSettings(c, engine, tokenizer, () => undefined));
    const ids = await tokenizer.encodeBatch(['Human: say hi. Assistant:', 'Human: a word? Assistant:'], { padding: 'longest', paddingSide: 'left' });
    const prompts = intFromRows(ids.inputIds);
    const mask = intFromRows(ids.attentionMask);
    const run = async (): Promise<number> => {
      const e = await trainer.generateExperience(prompts, mask, 0);
      expect(matrixRows(e.attentionMask)).toEqual(matrixRows(notEqualMask(e.inputIds, tokenizer.padTokenId!)));
      const r = await trainer.trainRlhf(e);
      await engine.actor.updateEma(0.992);
      return r.actorLoss;
    };
    await run(); // first step creates the AdamW moments
    const start = tf.memory().numTensors;
    for (let i = 1; i < 20; i++) expect(Number.isFinite(await run())).toBe(true);
    expect(tf.memory().numTensors).toBe(start);
    const mem = await engine.memory();
    expect(Object.keys(mem).sort()).toEqual(['actor', 'critic', 'reference', 'reward']);
    expect(mem.actor.parameters).toBeGreaterThan(mem.reference.parameters); // + the EMA copy and LoRA
    expect(mem.critic.optimizer).toBeGreaterThan(0);
    expect(mem.actor.peakTensorBytes).toBeGreaterThan(0);
    await engine.dispose();
  });
});
