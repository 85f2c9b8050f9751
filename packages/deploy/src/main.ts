// Standalone entry for `npx nx run deploy:train -- <flags>` (the same command as `rlhfkit train`).
import { runCli } from '@rlhfkit/core-tensor/cli';
import { trainCommand } from './cli';

void runCli('rlhfkit', [trainCommand]);
