// Every subcommand of `rlhfkit`, gathered from the packages' cli.ts modules.
import type { CommandModule } from 'yargs';
import { chatCommand, serveCommand } from '@rlhfkit/chat';
import { generateCommand, plotCommand } from '@rlhfkit/core-tensor';
import { dataCommand } from '@rlhfkit/data';
import { trainCommand } from '@rlhfkit/deploy';
import { dpoCommand } from '@rlhfkit/dpo';
import { ppoCommand } from '@rlhfkit/ppo';
import { rewardCommand } from '@rlhfkit/reward';
import { initModelCommand, sftCommand } from '@rlhfkit/sft';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  trainCommand, sftCommand, rewardCommand, dpoCommand, ppoCommand, chatCommand, serveCommand, generateCommand, dataCommand, initModelCommand, plotCommand,
];
