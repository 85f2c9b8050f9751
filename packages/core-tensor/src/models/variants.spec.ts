// Config paths beyond the HF fixtures (post-LN OPT with projections, MQA + linear RoPE + biases + tied LLaMA,
// dynamic-NTK LLaMA past max positions, GPT-2 with erf GELU / inverse-layer scaling / untied head) on cpu and wasm,
// against a PyTorch reference that test/fixtures/models/make_variants.py checks against transformers' own numbers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describeBackends, maxAbsDiff } from '../testing/backends';
import { loadPretrained } from './load';

const DIR = path.resolve(__dirname, '../../test/fixtures/models');
const VARIANTS = ['opt-postln', 'llama-mqa-linear', 'llama-dynamic', 'gpt2-variant'];

interface VariantGolden {
  input_ids: number[][];
  attention_mask: number[][];
  position_ids: number[][] | null;
  logits: (number[] | null)[][];
  last_hidden_state: (number[] | null)[][];
}

describeBackends('architecture variants vs PyTorch reference', () => {
  for (const name of VARIANTS) {
    test(name, async () => {
      const g = JSON.parse(fs.readFileSync(path.join(DIR, name, 'golden.json'), 'utf8')) as VariantGolden;
      const model = await loadPretrained(path.join(DIR, name));
      const before = tf.memory().numTensors;
      const out = model.forwardOutputs({ inputIds: g.input_ids, attentionMask: g.attention_mask, positionIds: g.position_ids ?? undefined });
      const logits = out.logits!.arraySync();
      const hidden = out.lastHiddenState.arraySync();
      let worstL = 0;
      let worstH = 0;
      g.logits.forEach((row, b) =>
        row.forEach((ref, t) => {
          if (!ref) return;
          worstL = Math.max(worstL, maxAbsDiff(logits[b][t], ref));
          worstH = Math.max(worstH, maxAbsDiff(hidden[b][t], g.last_hidden_state[b][t]!));
        }),
      );
      expect(worstL).toBeLessThan(1e-4);
      expect(worstH).toBeLessThan(1e-4);
      tf.dispose([out.logits!, out.lastHiddenState]);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  }

  test('transformers 5 config style (rope_parameters instead of rope_theta + rope_scaling) loads the same model', async () => {
    // transformers >= 5 saves {"rope_parameters": {"rope_type", "rope_theta", "factor"}} and no top-level keys.
    const name = 'llama-mqa-linear';
    const src = path.join(DIR, name);
    const raw = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
    const scaling = raw.rope_scaling as Record<string, unknown>;
    expect(raw.rope_theta).not.toBe(10000); // the fixture's theta must differ from the default for this to test anything
    const v5: Record<string, unknown> = { ...raw, rope_parameters: { rope_type: scaling.type ?? scaling.rope_type, factor: scaling.factor, rope_theta: raw.rope_theta } };
    delete v5.rope_theta;
    delete v5.rope_scaling;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rope-v5-'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(v5));
    fs.copyFileSync(path.join(src, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    const g = JSON.parse(fs.readFileSync(path.join(src, 'golden.json'), 'utf8')) as VariantGolden;
    const model = await loadPretrained(dir);
    const logits = model.forward({ inputIds: g.input_ids, attentionMask: g.attention_mask, positionIds: g.position_ids ?? undefined });
    const rows = logits.arraySync();
    logits.dispose();
    let worst = 0;
    g.logits.forEach((row, b) => row.forEach((ref, t) => ref && (worst = Math.max(worst, maxAbsDiff(rows[b][t], ref)))));
    expect(worst).toBeLessThan(1e-4);
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('post-LN OPT has no decoder final_layer_norm; the variants load every key', async () => {
    const opt = await loadPretrained(path.join(DIR, 'opt-postln'));
    expect([...opt.namedParameters().keys()].some((k) => k === 'model.decoder.final_layer_norm.weight')).toBe(false);
    expect(opt.unexpectedKeys).toEqual([]);
    opt.dispose();
  });
});
