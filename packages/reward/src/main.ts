// Standalone entry for `npx nx run reward:train|eval -- <flags>` (the same commands as `rlhfkit reward ...`).
import { runCli } from '@rlhfkit/core-tensor/cli';
import { rewardEvalCommand, rewardTrainCommand } from './cli';

void runCli('rlhfkit reward', [rewardTrainCommand, rewardEvalCommand]);
