// Entry point for `npx nx run dpo:train|eval -- <flags>`: the DPO commands without the rest of the rlhfkit CLI.
import { runCli } from '@rlhfkit/core-tensor/cli';
import { dpoEvalCommand, dpoTrainCommand } from './cli';

void runCli('rlhfkit dpo', [dpoTrainCommand, dpoEvalCommand]);
