// Every subcommand of `rlhfkit`, gathered from the packages' cli.ts modules.
import type { CommandModule } from 'yargs';
import { dataCommand } from '@rlhfkit/data';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [dataCommand];
