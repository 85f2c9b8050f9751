// Step 1 refuses, before any data loads or any step runs, what cannot work: --max_seq_len past the positions, a LoRA name matching nothing, --strict on surplus weights.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '@rlhfkit/core-tensor';
import { fastConfig, makeTempDir, QUIET, tinyOpt, useWasm } from './testing';
import { SftTrainer } from './trainer';

describe('sft: flag checks before training', () => {
  let root: string;
  let model: string;
  beforeAll(async () => {
    await useWasm();
    root = makeTempDir();
    model = await tinyOpt(root);
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const create = (over: Parameters<typeof fastConfig>[3], m = model): Promise<SftTrainer> =>
    SftTrainer.create(fastConfig(m, path.join(root, 'out'), path.join(root, 'data'), over), QUIET);

  test('--max_seq_len above max_position_embeddings names the largest allowed value', async () => {
    await expect(create({ maxSeqLen: 128 })).rejects.toThrow(/--max_seq_len 128 is more than .*tiny-opt can take: OPTForCausalLM has 64 positions .*; use --max_seq_len 64 or less/);
    expect(fs.existsSync(path.join(root, 'out'))).toBe(false);
  });

  test("a --lora_module_name that matches no layer is an error naming the flag, not a function", async () => {
    await expect(create({ loraDim: 4, loraModuleName: 'nomatch' })).rejects.toThrow(/^--lora_module_name 'nomatch': no linear layer name of this OPTForCausalLM contains 'nomatch'/);
  });

  test('--strict refuses weights the config does not use; without it they are named in a warning', async () => {
    const extra = path.join(root, 'extra');
    fs.cpSync(model, extra, { recursive: true });
    const sd = readSafetensors(path.join(extra, 'model.safetensors'));
    sd.set('model.decoder.layers.2.fc1.weight', { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) });
    writeSafetensors(path.join(extra, 'model.safetensors'), sd as never);
    await expect(create({ strict: true }, extra)).rejects.toThrow(/1 tensor not used by OPTForCausalLM .*model\.decoder\.layers\.2\.\* \(1 tensor\); .*says 2 layers but the weights have 3; --strict makes this an error/);
    const lines: string[] = [];
    const t = await SftTrainer.create(fastConfig(extra, path.join(root, 'out2'), path.join(root, 'data')), { ...QUIET, log: (l) => lines.push(l) });
    t.dispose();
    expect(lines.filter((l) => l.includes('not used'))).toEqual([expect.stringMatching(/^rlhfkit: warning: .*it was ignored \(--strict makes this an error\)$/)]);
  });
});
