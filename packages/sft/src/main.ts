// Entry point for `npx nx run sft:train|eval|init-model -- <flags>`: the step-1 commands without the rest of the rlhfkit CLI.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { initModelCommand, sftEvalCommand, sftTrainCommand } from './cli';

yargs(hideBin(process.argv))
  .scriptName('rlhfkit sft')
  .command(sftTrainCommand)
  .command(sftEvalCommand)
  .command(initModelCommand)
  .demandCommand(1, 'Name a subcommand: train, eval or init-model.')
  .strictCommands()
  .help()
  .wrap(Math.min(120, process.stdout.columns || 100))
  .parseAsync()
  .catch((err: Error) => {
    process.stderr.write(`rlhfkit sft: ${err.message}\n`);
    process.exit(1);
  });
