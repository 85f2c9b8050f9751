// Loading and saving reward models: rlhfkit folders reload without options, DeepSpeed-Chat folders load, missing heads are errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '@rlhfkit/core-tensor';
import { useBackend, maxAbsDiff } from '../../core-tensor/src/testing/backends';
import { loadRewardModel, rewardLoadReport } from './load';
import { REWARD_CONFIG_KEY } from './reward-config';
import { OPT_FIXTURE, readRewardGolden, REWARD_FIXTURE, rewardFixturePresent, tempDir } from './testing';

const present = rewardFixturePresent();
const run = present ? describe : describe.skip;
const HEAD = path.join(REWARD_FIXTURE, 'v_head.safetensors');

run('reward model folders', () => {
  useBackend('cpu');
  const g = present ? readRewardGolden() : null;
  const dirs: string[] = [];
  const fresh = (p: string): string => {
    const d = tempDir(p);
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  test('save then loadRewardModel(dir) with no options reproduces DeepSpeed-Chat numbers', async () => {
    const v = g!.variants.pad_eq_eos;
    const m = await loadRewardModel(OPT_FIXTURE, { valueHead: HEAD, padTokenId: 2, numPaddingAtBeginning: 1 });
    const dir = fresh('saved');
    await m.save(dir);
    m.dispose();

    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config[REWARD_CONFIG_KEY]).toEqual({ version: 1, kind: 'reward_model', pad_token_id: 2, num_padding_at_beginning: 1, value_head: 'v_head.weight' });
    expect(config.model_type).toBe('opt');
    // The body keeps its HF causal-LM names, so transformers' AutoModel loads it and only reports v_head.weight as unused.
    const header = readSafetensorsHeader(path.join(dir, 'model.safetensors'));
    const keys = [...header.keys()];
    expect(keys).toContain('model.decoder.embed_tokens.weight');
    expect(keys).toContain('model.decoder.layers.0.self_attn.q_proj.weight');
    expect(header.get('v_head.weight')?.shape).toEqual([1, 64]);
    expect(keys.filter((k) => !k.startsWith('model.decoder.'))).toEqual(['v_head.weight']);

    const back = await loadRewardModel(dir);
    expect([back.padTokenId, back.numPaddingAtBeginning]).toEqual([2, 1]);
    expect(rewardLoadReport(back)?.valueHead).toBe('checkpoint');
    back.eval();
    const out = back.forward({ inputIds: v.input_ids, attentionMask: v.attention_mask });
    expect(Math.abs(out.loss - v.forward.loss)).toBeLessThan(1e-5);
    expect(maxAbsDiff(out.chosenMeanScores, v.forward.chosen_mean_scores)).toBeLessThan(2e-5);
    back.dispose();
  });

  test("DeepSpeed-Chat's own step-2 layout (rwtransformer.* + v_head.weight, no rlhfkit block) loads with its defaults", async () => {
    const v = g!.variants.pad_eq_eos;
    const dir = fresh('dschat');
    const body = readSafetensors(path.join(OPT_FIXTURE, 'model.safetensors'));
    const tensors = new Map([...body].map(([k, t]) => [`rwtransformer.${k.replace(/^model\./, '')}`, t]));
    tensors.set('v_head.weight', readSafetensors(HEAD).get('v_head.weight')!);
    writeSafetensors(path.join(dir, 'model.safetensors'), tensors as never);
    // DS-Chat saves the config after setting pad_token_id = eos (2).
    const config = { ...JSON.parse(fs.readFileSync(path.join(OPT_FIXTURE, 'config.json'), 'utf8')), pad_token_id: 2, end_token_id: 2 };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    const m = await loadRewardModel(dir);
    expect([m.padTokenId, m.numPaddingAtBeginning]).toEqual([2, 1]);
    m.eval();
    const out = m.forward({ inputIds: v.input_ids, attentionMask: v.attention_mask });
    expect(Math.abs(out.loss - v.forward.loss)).toBeLessThan(1e-5);
    m.dispose();
  });

  test('a causal LM folder without v_head.weight is a clear error, never a silent random head', async () => {
    const before = tf.memory().numTensors;
    await expect(loadRewardModel(OPT_FIXTURE)).rejects.toThrow(/has no 'v_head.weight'.*--value_head.*--init_value_head/s);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('initValueHead: linear starts a head like torch nn.Linear (U(+-1/sqrt(dim)))', async () => {
    const m = await loadRewardModel(OPT_FIXTURE, { initValueHead: 'linear', seed: 7 });
    const w = m.vHead.dataSync();
    expect(rewardLoadReport(m)?.valueHead).toBe('fresh');
    expect(Math.max(...Array.from(w, Math.abs))).toBeLessThanOrEqual(1 / 8);
    expect(new Set(w).size).toBe(64);
    // OPT with DeepSpeed-Chat's pad = eos = bos = 2 -> one padding at the beginning.
    expect([m.padTokenId, m.numPaddingAtBeginning]).toEqual([2, 1]);
    m.dispose();
  });

  test('a folder marked as a reward model but missing its head says it is damaged', async () => {
    const dir = fresh('damaged');
    fs.copyFileSync(path.join(OPT_FIXTURE, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const config = { ...JSON.parse(fs.readFileSync(path.join(OPT_FIXTURE, 'config.json'), 'utf8')) };
    config[REWARD_CONFIG_KEY] = { version: 1, kind: 'reward_model', pad_token_id: 2, num_padding_at_beginning: 1, value_head: 'v_head.weight' };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    await expect(loadRewardModel(dir)).rejects.toThrow(/says it is a reward model.*damaged/);
  });

  test('a value head of the wrong width names the file and the expected shape', async () => {
    const dir = fresh('badhead');
    const file = path.join(dir, 'head.safetensors');
    writeSafetensors(file, new Map([['v_head.weight', { shape: [1, 32], data: new Float32Array(32) }]]));
    await expect(loadRewardModel(OPT_FIXTURE, { valueHead: file })).rejects.toThrow(/head\.safetensors: 'v_head.weight' has shape \[1, 32\].*\[1, 64\]/);
  });

  test('forward, forwardValue and values leave no tensor behind', async () => {
    const v = g!.variants.pad_eq_eos;
    const m = await loadRewardModel(OPT_FIXTURE, { valueHead: HEAD });
    const before = tf.memory().numTensors;
    m.forward({ inputIds: v.input_ids, attentionMask: v.attention_mask });
    m.forward({ inputIds: { data: Int32Array.from(v.input_ids.flat()), shape: [6, 16] }, attentionMask: v.attention_mask });
    m.forwardValue(v.input_ids, v.attention_mask, 4);
    m.values(v.input_ids, v.attention_mask).dispose();
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});

run('misconfigured padding', () => {
  useBackend('cpu');
  test('a batch where every pair ends before it differs is refused with a num_padding_at_beginning hint', async () => {
    const g = readRewardGolden();
    const v = g.variants.pad_eq_eos;
    // OPT rows start with BOS = pad = 2: with num_padding_at_beginning 0 the BOS itself looks like the end.
    const m = await loadRewardModel(OPT_FIXTURE, { valueHead: HEAD, padTokenId: 2, numPaddingAtBeginning: 0 });
    const before = tf.memory().numTensors;
    expect(() => m.forward({ inputIds: v.input_ids, attentionMask: v.attention_mask })).toThrow(/check --num_padding_at_beginning/i);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});

run('values() in a training graph (step 3 critic)', () => {
  useBackend('cpu');
  test('gradients reach the value head (sum of hidden states) and the body, with nothing left behind', async () => {
    const v = readRewardGolden().variants.pad_eq_eos;
    const m = await loadRewardModel(OPT_FIXTURE, { valueHead: HEAD });
    m.eval();
    const fc1 = m.namedParameters().get('model.decoder.layers.0.fc1.weight')!;
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(m.values(v.input_ids, v.attention_mask)) as tf.Scalar, [m.vHead, fc1]);
    // d/dw sum_t w.h[t] = sum_t h[t]: compare with the body's hidden states summed independently.
    const h = m.body.forwardHidden({ inputIds: v.input_ids, attentionMask: v.attention_mask });
    const hs = tf.tidy(() => tf.sum(tf.reshape(h, [-1, 64]), 0));
    expect(maxAbsDiff(grads[m.vHead.name].dataSync(), hs.dataSync())).toBeLessThan(1e-4);
    expect(Math.max(...Array.from(grads[fc1.name].dataSync(), Math.abs))).toBeGreaterThan(0);
    tf.dispose([value, h, hs, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
