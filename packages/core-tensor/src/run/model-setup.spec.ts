// create_hf_model's preparation: vocab resized to a multiple of 8 (mean rows, saved and reloaded intact), --dropout, pad/eos, tokenizer.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors } from '../io/safetensors';
import { ConfigError, type RawConfig } from '../models/config';
import { createModelFromConfig, loadPretrained } from '../models/load';
import { useBackend } from '../testing/backends';
import { gpt2Tokenizer } from '../tokenizer/load';
import { assignWeights, configureDropout, loadModelForTraining, loadTrainingTokenizer, roundUpVocab } from './model-setup';

const OPT: RawConfig = {
  model_type: 'opt', vocab_size: 20, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, ffn_dim: 16, max_position_embeddings: 16,
  word_embed_proj_dim: 8, do_layer_norm_before: true, activation_function: 'relu', enable_bias: true, tie_word_embeddings: true,
  bos_token_id: 2, eos_token_id: 2, pad_token_id: 1, dropout: 0.1,
};
const LLAMA: RawConfig = {
  model_type: 'llama', vocab_size: 20, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2,
  max_position_embeddings: 16, rms_norm_eps: 1e-6, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
};
const IDS = [[2, 5, 7, 11, 19]];

describe('loadModelForTraining', () => {
  useBackend('cpu');
  let root: string;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-setup-'));
    for (const [name, raw] of [['opt', OPT], ['llama', LLAMA]] as const) {
      const m = createModelFromConfig(raw, { seed: 5 });
      await m.save(path.join(root, name));
      m.dispose();
    }
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  test('a damaged config.json or generation_config.json is a ConfigError naming the file, for training and plain loads', async () => {
    const dir = path.join(root, 'damaged');
    fs.cpSync(path.join(root, 'opt'), dir, { recursive: true });
    const gen = path.join(dir, 'generation_config.json');
    fs.writeFileSync(gen, '{"max_length": 20,');
    for (const load of [() => loadModelForTraining(dir), () => loadPretrained(dir)]) {
      await expect(load()).rejects.toThrow(ConfigError);
      await expect(load()).rejects.toThrow(`${gen}: cannot parse generation_config.json as JSON (`);
    }
    fs.rmSync(gen);
    fs.writeFileSync(path.join(dir, 'config.json'), '["opt"]');
    await expect(loadModelForTraining(dir)).rejects.toThrow(`${path.join(dir, 'config.json')}: config.json must be a JSON object, found a list`);
    fs.rmSync(path.join(dir, 'config.json'));
    await expect(loadModelForTraining(dir)).rejects.toThrow(`${dir}: no config.json; a model folder needs config.json next to its weights`);
  });

  test('roundUpVocab: DeepSpeed-Chat pads len(tokenizer) to a multiple of 8', () => {
    expect(roundUpVocab(50257)).toBe(50264);
    expect(roundUpVocab(50265)).toBe(50272);
    expect(roundUpVocab(32001)).toBe(32008);
    expect(roundUpVocab(32000)).toBe(32000);
  });

  for (const name of ['opt', 'llama'] as const) {
    test(`${name}: growing the vocabulary keeps old rows, fills new rows with the old rows' mean, and saves/reloads exactly`, async () => {
      const dir = path.join(root, name);
      const before = readSafetensors(path.join(dir, 'model.safetensors'));
      const m = await loadModelForTraining(dir, { tokenizer: { vocabSize: 27, eosTokenId: 2 } });
      expect(m.config.vocabSize).toBe(32);
      const out = path.join(root, `${name}-resized`);
      await m.save(out);
      const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as RawConfig;
      expect(cfg.vocab_size).toBe(32);
      expect(cfg.pad_token_id).toBe(cfg.eos_token_id);
      expect(cfg.end_token_id).toBe(2);
      const after = readSafetensors(path.join(out, 'model.safetensors'));
      const keys = name === 'opt' ? ['model.decoder.embed_tokens.weight'] : ['model.embed_tokens.weight', 'lm_head.weight'];
      for (const key of keys) {
        const old = before.get(key)!.data;
        const neu = after.get(key)!;
        expect(neu.shape).toEqual([32, 8]);
        expect(Array.from(neu.data.subarray(0, 20 * 8))).toEqual(Array.from(old));
        for (let c = 0; c < 8; c++) {
          let s = 0;
          for (let r = 0; r < 20; r++) s += old[r * 8 + c];
          for (let r = 20; r < 32; r++) expect(neu.data[r * 8 + c]).toBeCloseTo(s / 20, 6);
        }
      }
      const reloaded = await loadPretrained(out);
      const [a, b] = [m.forward({ inputIds: IDS }), reloaded.forward({ inputIds: IDS })];
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      tf.dispose([a, b]);
      m.dispose();
      reloaded.dispose();
    });
  }

  test('shrinking cuts rows (as resize_token_embeddings does when the tokenizer is smaller)', async () => {
    const m = await loadModelForTraining(path.join(root, 'opt'), { tokenizer: { vocabSize: 9 } });
    expect(m.config.vocabSize).toBe(16);
    const w = m.namedParameters().get('model.decoder.embed_tokens.weight')!;
    const old = readSafetensors(path.join(root, 'opt', 'model.safetensors')).get('model.decoder.embed_tokens.weight')!.data;
    expect(Array.from(w.dataSync())).toEqual(Array.from(old.subarray(0, 16 * 8)));
    m.dispose();
  });

  test('--dropout sets the config rates DeepSpeed-Chat sets for the model type', () => {
    const log: string[] = [];
    const opt = { ...OPT };
    expect(configureDropout(opt, 0.2, (l) => log.push(l))).toEqual(['dropout', 'attention_dropout', 'activation_dropout']);
    expect([opt.dropout, opt.attention_dropout, opt.activation_dropout]).toEqual([0.2, 0.2, 0.2]);
    expect(log[0]).toBe('Setting model_config.dropout to 0.2');
    expect(configureDropout({ model_type: 'gpt2', resid_pdrop: 0.1 }, 0.2)).toEqual([]);
    expect(configureDropout({ ...OPT }, null)).toEqual([]);
    expect(() => configureDropout({ ...OPT }, 1)).toThrow('--dropout must be in [0, 1), got 1');
  });

  test('loadTrainingTokenizer: pad = eos and right padding (OPT/GPT-2); LLaMA without a pad gets [PAD]; --add_eot_token', async () => {
    const gdir = path.join(root, 'opt');
    gpt2Tokenizer().save(gdir);
    const t = await loadTrainingTokenizer(gdir, { addEotToken: true, eotToken: '<|eot|>' });
    expect(t.padTokenId).toBe(50256);
    expect(t.paddingSide).toBe('right');
    expect(t.vocabSize).toBe(50258);
    expect(t.additionalSpecialTokens).toEqual(['<|eot|>']);
    const ldir = path.join(root, 'llama');
    gpt2Tokenizer().save(ldir);
    const l = await loadTrainingTokenizer(ldir);
    expect(l.padToken).toBe('[PAD]');
    expect(l.padTokenId).toBe(50257);
  });

  test('assignWeights restores a state dict into a model and refuses a mismatching one untouched', async () => {
    const a = createModelFromConfig(OPT, { seed: 1 });
    const b = createModelFromConfig(OPT, { seed: 2 });
    assignWeights(b, a.stateDict());
    const [x, y] = [a.forward({ inputIds: IDS }), b.forward({ inputIds: IDS })];
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    const sd = a.stateDict();
    sd.delete('model.decoder.final_layer_norm.bias');
    expect(() => assignWeights(b, sd, 'ck')).toThrow("ck: missing tensor 'model.decoder.final_layer_norm.bias'");
    tf.dispose([x, y]);
    a.dispose();
    b.dispose();
  });
});
