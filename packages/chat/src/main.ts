// Standalone entry for `npx nx run chat:chat|serve -- <flags>` (the same commands as `rlhfkit chat` / `rlhfkit serve`).
import { runCli } from '@rlhfkit/core-tensor/cli';
import { chatCommand, serveCommand } from './cli';

void runCli('rlhfkit', [chatCommand, serveCommand]);
