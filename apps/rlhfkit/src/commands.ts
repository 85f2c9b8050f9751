// Every subcommand of `rlhfkit`, gathered from the packages' command entries (@rlhfkit/<package>/cli).
import type { CommandModule } from 'yargs';
import { chatCommand, serveCommand } from '@rlhfkit/chat/cli';
import { generateCommand, launchCommand, plotCommand } from '@rlhfkit/core-tensor/cli';
import { dataCommand } from '@rlhfkit/data/cli';
import { trainCommand } from '@rlhfkit/deploy/cli';
import { dpoCommand } from '@rlhfkit/dpo/cli';
import { ppoCommand } from '@rlhfkit/ppo/cli';
import { rewardCommand } from '@rlhfkit/reward/cli';
import { initModelCommand, sftCommand } from '@rlhfkit/sft/cli';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  trainCommand, sftCommand, rewardCommand, dpoCommand, ppoCommand, chatCommand, serveCommand, generateCommand, dataCommand, initModelCommand, plotCommand, launchCommand,
];
