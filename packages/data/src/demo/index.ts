// The built-in demo dataset: registered as the `rlhfkit/demo` adapter.
import { registerAdapter } from '../adapters/registry';
import { rlhfkitDemo } from './adapter';

registerAdapter(rlhfkitDemo);

export { rlhfkitDemo } from './adapter';
export { afinnScore, words as afinnWords } from './afinn';
export { buildDemoDataset, defaultDemoDir, DEMO_PROMPTS, DEMO_STAMP, DEMO_VERSION, ensureDemoDataset, type DemoOptions, type DemoStamp } from './dataset';
export { buildPairs, CHOSEN_MIN_SCORE, REJECTED_MAX_SCORE, type DemoPair } from './pairs';
export { loadSourceSentences, splitSentences, type SourceSentence } from './sentences';
export { demoInstruction, followsDemoInstruction, type DemoInstruction } from './instructions';
