// Specs for DeepSpeed-Chat's parameter grouping, on real HF parameter names (groups worked out by hand).
import { getOptimizerGroupedParameters } from './param-groups';

describe('getOptimizerGroupedParameters', () => {
  it('groups OPT names with LoRA like DeepSpeed-Chat', () => {
    const names = [
      'model.decoder.embed_tokens.weight',
      'model.decoder.layers.0.self_attn.q_proj.weight',
      'model.decoder.layers.0.self_attn.q_proj.bias',
      'model.decoder.layers.0.self_attn.q_proj.lora_right_weight',
      'model.decoder.layers.0.self_attn.q_proj.lora_left_weight',
      'model.decoder.layers.0.self_attn_layer_norm.weight',
      'model.decoder.layers.0.self_attn_layer_norm.bias',
      'model.decoder.final_layer_norm.weight',
    ];
    expect(getOptimizerGroupedParameters(names, 0.1, { loraLr: 1e-3 })).toEqual([
      { params: ['model.decoder.embed_tokens.weight', 'model.decoder.layers.0.self_attn.q_proj.weight'], weightDecay: 0.1 },
      {
        params: ['model.decoder.layers.0.self_attn.q_proj.lora_right_weight', 'model.decoder.layers.0.self_attn.q_proj.lora_left_weight'],
        weightDecay: 0.1,
        lr: 1e-3,
      },
      {
        params: [
          'model.decoder.layers.0.self_attn.q_proj.bias',
          'model.decoder.layers.0.self_attn_layer_norm.weight',
          'model.decoder.layers.0.self_attn_layer_norm.bias',
          'model.decoder.final_layer_norm.weight',
        ],
        weightDecay: 0,
      },
    ]);
  });

  it('drops empty groups and keeps GPT-2 ln_1/ln_2 weights decayed (substring rule), ln_f not', () => {
    const names = ['transformer.wte.weight', 'transformer.h.0.ln_1.weight', 'transformer.h.0.ln_1.bias', 'transformer.ln_f.weight'];
    expect(getOptimizerGroupedParameters(names, 0.0)).toEqual([
      { params: ['transformer.wte.weight', 'transformer.h.0.ln_1.weight'], weightDecay: 0.0 },
      { params: ['transformer.h.0.ln_1.bias', 'transformer.ln_f.weight'], weightDecay: 0 },
    ]);
  });

  it('matches case-insensitively (Llama norms) and uses the 5e-4 LoRA default', () => {
    const names = ['model.layers.0.input_layernorm.weight', 'model.norm.weight', 'model.layers.0.mlp.up_proj.LoRA_Left_Weight'];
    expect(getOptimizerGroupedParameters(names, 0.01)).toEqual([
      { params: ['model.layers.0.mlp.up_proj.LoRA_Left_Weight'], weightDecay: 0.01, lr: 5e-4 },
      { params: ['model.layers.0.input_layernorm.weight', 'model.norm.weight'], weightDecay: 0 },
    ]);
  });
});
