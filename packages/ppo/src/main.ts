// Standalone entry for `npx nx run ppo:train|eval -- <flags>` (the same commands as `rlhfkit ppo ...`).
import { runCli } from '@rlhfkit/core-tensor/cli';
import { ppoEvalCommand, ppoTrainCommand } from './cli';

void runCli('rlhfkit ppo', [ppoTrainCommand, ppoEvalCommand]);
