// Standalone entry for `npx nx run reward:train|eval -- <flags>` (the same commands as `rlhfkit reward ...`).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { rewardEvalCommand, rewardTrainCommand } from './cli';

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('rlhfkit reward')
    .command(rewardTrainCommand)
    .command(rewardEvalCommand)
    .demandCommand(1, 'Name a subcommand: train or eval')
    .strict()
    // Errors print as one line (below), not after the whole --help text.
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .help()
    .wrap(Math.min(120, process.stdout.columns || 100))
    .parseAsync();
}

main().catch((err: Error) => {
  process.stderr.write(`rlhfkit reward: ${err.message}\n(run with --help for the flags)\n`);
  process.exit(1);
});
