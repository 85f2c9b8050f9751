// Every subcommand of `rlhfkit`, gathered from the packages' cli.ts modules.
import type { CommandModule } from 'yargs';
import { chatCommand, serveCommand } from '@rlhfkit/chat';
import { generateCommand, plotCommand } from '@rlhfkit/core-tensor';
import { dataCommand } from '@rlhfkit/data';
import { dpoCommand } from '@rlhfkit/dpo';
import { rewardCommand } from '@rlhfkit/reward';
import { initModelCommand, sftCommand } from '@rlhfkit/sft';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [generateCommand, plotCommand, dataCommand, rewardCommand, dpoCommand, sftCommand, initModelCommand, chatCommand, serveCommand];
