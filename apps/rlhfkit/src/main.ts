// The `rlhfkit` command line: each package contributes its subcommands through its cli.ts.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands';

yargs(hideBin(process.argv))
  .scriptName('rlhfkit')
  .command(commands)
  .demandCommand(1, 'Name a subcommand; `rlhfkit --help` lists them.')
  .strictCommands()
  .recommendCommands()
  .help()
  .wrap(Math.min(120, process.stdout.columns || 100))
  .parseAsync()
  .catch((err: Error) => {
    process.stderr.write(`rlhfkit: ${err.message}\n`);
    process.exit(1);
  });
