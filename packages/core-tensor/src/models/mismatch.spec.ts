// Config vs weights said out loud, and generation that cannot go on: unused tensors warned (an error with strict), NaN logits, the position limit, --max_seq_len.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { NonFiniteLogitsError } from '../generation/generate';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { checkMaxSeqLen, loadModelForTraining } from '../run/model-setup';
import { createTinyModel } from '../run/tiny-model';
import { useBackend } from '../testing/backends';
import type { CausalLM } from './causal-lm';
import { loadPretrained } from './load';

describe('config vs weights, and generation limits (cpu)', () => {
  useBackend('cpu');
  let root: string;
  let tiny: string;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-mismatch-'));
    tiny = path.join(root, 'tiny');
    await createTinyModel(tiny, { arch: 'opt', hiddenSize: 16, layers: 2, heads: 2, merges: 100, maxPositions: 16, seed: 1 });
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  /** A copy of the tiny model with its config or weights edited. */
  function variant(name: string, edit: (dir: string) => void): string {
    const dir = path.join(root, name);
    fs.cpSync(tiny, dir, { recursive: true });
    edit(dir);
    return dir;
  }
  function editConfig(dir: string, over: Record<string, unknown>): void {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), ...over }));
  }
  function editWeights(dir: string, edit: (sd: ReturnType<typeof readSafetensors>) => void): void {
    const file = path.join(dir, 'model.safetensors');
    const sd = readSafetensors(file);
    edit(sd);
    writeSafetensors(file, sd as never);
  }

  test('a config with fewer layers than the weights loads with a warning naming the unused tensors and the layer counts; strict makes it an error', async () => {
    const dir = variant('fewer', (d) => editConfig(d, { num_hidden_layers: 1 }));
    const lines: string[] = [];
    const m = await loadPretrained(dir, { warn: (l) => lines.push(l) });
    m.dispose();
    expect(lines).toEqual([
      expect.stringMatching(/^rlhfkit: warning: .*fewer.model\.safetensors: 16 tensors not used by OPTForCausalLM built from .*config\.json: model\.decoder\.layers\.1\.\* \(16 tensors\); .*config\.json says 1 layer but the weights have 2; they were ignored \(--strict makes this an error\)$/),
    ]);
    const before = tf.memory().numTensors;
    await expect(loadPretrained(dir, { strict: true })).rejects.toThrow(/16 tensors not used .*--strict makes this an error: fix config\.json/);
    await expect(loadModelForTraining(dir, { strict: true })).rejects.toThrow(/16 tensors not used/);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('an extra tensor is named; a value head and, for a body-only load, an untied lm_head are expected and not reported', async () => {
    const dir = variant('extra', (d) => editWeights(d, (sd) => {
      sd.set('model.decoder.surplus.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
      sd.set('v_head.weight', { dtype: 'F32', shape: [1, 16], data: new Float32Array(16) });
    }));
    const lines: string[] = [];
    const m = await loadPretrained(dir, { warn: (l) => lines.push(l) });
    expect(m.unexpectedKeys.sort()).toEqual(['model.decoder.surplus.weight', 'v_head.weight']);
    m.dispose();
    expect(lines).toEqual([expect.stringMatching(/1 tensor not used by OPTForCausalLM .*: model\.decoder\.surplus\.weight; it was ignored/)]);
    const untied = variant('untied', (d) => {
      editConfig(d, { tie_word_embeddings: false });
      editWeights(d, (sd) => sd.set('lm_head.weight', sd.get('model.decoder.embed_tokens.weight')!));
    });
    const quiet: string[] = [];
    (await loadPretrained(untied, { bodyOnly: true, strict: true, warn: (l) => quiet.push(l) })).dispose();
    expect(quiet).toEqual([]);
  });

  test('--max_seq_len above the position table is an error saying the largest allowed value', async () => {
    const m = await loadPretrained(tiny);
    try {
      expect(() => checkMaxSeqLen(17, m, 'tiny')).toThrow('--max_seq_len 17 is more than tiny can take: OPTForCausalLM has 16 positions (max_position_embeddings in its config.json); use --max_seq_len 16 or less');
      expect(() => checkMaxSeqLen(16, m, 'tiny')).not.toThrow();
    } finally {
      m.dispose();
    }
  });

  describe('generation', () => {
    let model: CausalLM;
    let nan: CausalLM;
    beforeAll(async () => {
      model = await loadPretrained(tiny);
      const dir = variant('nan', (d) => editWeights(d, (sd) => (sd.get('model.decoder.layers.0.fc1.weight')!.data as Float32Array).fill(NaN)));
      nan = await loadPretrained(dir);
    });
    afterAll(() => {
      model.dispose();
      nan.dispose();
    });

    test('past the position limit, generation stops there and returns what it made, saying so', async () => {
      const out = await model.generate([[1, 2, 3, 4, 5, 6]], { maxNewTokens: 50, eosTokenId: null });
      expect(out.newTokens[0]).toHaveLength(10);
      expect(out.positionLimit).toEqual({ maxLength: 16, askedNewTokens: 50, newTokens: 10 });
      const within = await model.generate([[1, 2, 3]], { maxNewTokens: 4, eosTokenId: null });
      expect(within.positionLimit).toBeUndefined();
      await expect(model.generate([new Array<number>(17).fill(5)], { maxNewTokens: 1 })).rejects.toThrow(/the prompt is 17 tokens .*more than the 16 positions of OPTForCausalLM/);
    });

    test('NaN weights: greedy and sampled generation stop with an error instead of printing token 0', async () => {
      const before = tf.memory().numTensors;
      await expect(nan.generate([[1, 2, 3]], { maxNewTokens: 3 })).rejects.toThrow(NonFiniteLogitsError);
      await expect(nan.generate([[1, 2, 3], [4, 5]], { maxNewTokens: 3, doSample: true, seed: 1 })).rejects.toThrow(
        /logits are NaN or infinite at new token 1 of prompt 1, so no token can be chosen/,
      );
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
