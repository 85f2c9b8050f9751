// HF parity of OPT, OPT with projections, LLaMA (GQA) and GPT-2 on the wasm backend.
import { useBackend } from '../testing/backends';
import { describeModelParity, fixturesPresent, PARITY_MODELS } from './parity-suite';

const run = fixturesPresent() ? describe : describe.skip;

run('model parity on wasm', () => {
  useBackend('wasm');
  for (const name of PARITY_MODELS) describeModelParity(name, 'wasm');
});
