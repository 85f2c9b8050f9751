// Entry point for `npx nx run sft:train|eval|init-model -- <flags>`: the step-1 commands without the rest of the rlhfkit CLI.
import { runCli } from '@rlhfkit/core-tensor/cli';
import { initModelCommand, sftEvalCommand, sftTrainCommand } from './cli';

void runCli('rlhfkit sft', [sftTrainCommand, sftEvalCommand, initModelCommand]);
