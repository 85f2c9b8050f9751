// Model presets: the exact shapes of facebook/opt-125m, opt-350m, opt-1.3b and a Llama-2-7b cut, with GPT-2 tokenizer ids.
import type { OptConfig } from '../models/config';
import { parseModelConfig } from '../models/registry';
import { MODEL_PRESET_NAMES, presetConfig } from './model-presets';

describe('model presets', () => {
  test('OPT presets have the hub configs (opt-350m post-LN with a 512-wide projected embedding); ids are the GPT-2 tokenizer\'s', () => {
    const shapes = MODEL_PRESET_NAMES.filter((n) => n.startsWith('opt')).map((n) => {
      const c = parseModelConfig(presetConfig(n, 50256, 50257)) as OptConfig;
      return [n, c.hiddenSize, c.numLayers, c.numHeads, c.ffnDim, c.wordEmbedProjDim, c.doLayerNormBefore, c.vocabSize, c.maxPositions, c.eosTokenId];
    });
    expect(shapes).toEqual([
      ['opt-125m', 768, 12, 12, 3072, 768, true, 50272, 2048, 50256],
      ['opt-350m', 1024, 24, 16, 4096, 512, false, 50272, 2048, 50256],
      ['opt-1.3b', 2048, 24, 32, 8192, 2048, true, 50272, 2048, 50256],
    ]);
  });

  test('the Llama-2 preset: 7b widths, 4 layers (or --layers), vocabulary of the GPT-2 tokenizer rounded to 8, untied head', () => {
    const c = parseModelConfig(presetConfig('llama-2-7b-4l', 50256, 50257));
    expect([c.modelType, c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.vocabSize, c.tieWordEmbeddings]).toEqual(['llama', 4096, 4, 32, 32, 50264, false]);
    expect(parseModelConfig(presetConfig('llama-2-7b-4l', 50256, 50257, { layers: 2 })).numLayers).toBe(2);
    expect(() => presetConfig('opt-7b', 1, 1)).toThrow(/unknown model preset 'opt-7b'; the presets are opt-125m, opt-350m, opt-1\.3b, llama-2-7b-4l/);
  });
});
