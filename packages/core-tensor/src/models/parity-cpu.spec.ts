// HF parity of OPT, OPT with projections, LLaMA (GQA) and GPT-2 on the cpu backend.
import { useBackend } from '../testing/backends';
import { describeModelParity, fixturesPresent, PARITY_MODELS } from './parity-suite';

const run = fixturesPresent() ? describe : describe.skip;

run('model parity on cpu', () => {
  useBackend('cpu');
  for (const name of PARITY_MODELS) describeModelParity(name, 'cpu');
});
