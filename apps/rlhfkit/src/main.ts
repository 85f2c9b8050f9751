// The `rlhfkit` command line: each package contributes its subcommands through its cli.ts.
import { runCli } from '@rlhfkit/core-tensor/cli';
import { commands } from './commands';

void runCli('rlhfkit', commands);
