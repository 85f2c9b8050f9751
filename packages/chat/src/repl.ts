// The terminal loop of `rlhfkit chat`: DeepSpeed-Chat's prompt, `quit` and `clear`, each answer streamed as it is generated.
import * as readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { ChatSession } from './chat-session';

export const REPL_PROMPT = "Enter input (type 'quit' to exit, 'clear' to clean memory): ";

export interface ReplOptions {
  input: Readable;
  output: Writable;
  /** Notes that are not part of the conversation (default: nowhere). */
  log?: (line: string) => void;
}

/** DeepSpeed-Chat's round banner. */
export function roundBanner(round: number): string {
  return `${'-'.repeat(30)} Round ${round} ${'-'.repeat(30)}`;
}

/**
 * Reads lines until `quit` (or the end of the input): `clear` forgets the conversation, anything else is the next
 * user turn, answered under a Round banner with the text written as it arrives. Returns the rounds answered.
 */
export async function runChatRepl(session: ChatSession, opts: ReplOptions): Promise<number> {
  const { output } = opts;
  const tty = (opts.input as Readable & { isTTY?: boolean }).isTTY === true;
  // On a terminal readline echoes and edits the line (it needs the output for that); piped input is read as it is.
  const rl = readline.createInterface({ input: opts.input, output: tty ? output : undefined, terminal: tty, crlfDelay: Infinity });
  rl.setPrompt(REPL_PROMPT);
  // Ctrl-C at the prompt ends the chat (readline would otherwise only pause the input).
  rl.on('SIGINT', () => rl.close());
  const lines = rl[Symbol.asyncIterator]();
  let answered = 0;
  try {
    for (;;) {
      if (tty) rl.prompt();
      else output.write(REPL_PROMPT);
      const next = await lines.next();
      if (next.done) {
        output.write('\n');
        break;
      }
      const line = next.value.trim();
      if (!tty) output.write(`${next.value}\n`); // echo piped input so the transcript reads like a terminal session
      if (line === 'quit') break;
      if (line === '') continue;
      if (line === 'clear') {
        session.clear();
        opts.log?.('(conversation cleared)');
        continue;
      }
      const round = session.rounds + 1;
      output.write(`${roundBanner(round)}\n Human: ${next.value}\n Assistant: `);
      const reply = await session.send(next.value, (delta) => output.write(delta));
      output.write('\n\n');
      answered++;
      if (reply.droppedRounds > 0 || reply.truncated) {
        opts.log?.(`(the conversation is longer than the model's ${session.model.contextLength}-token context: ` +
          `${reply.droppedRounds} earliest round(s) left out${reply.truncated ? ', prompt cut to its last tokens' : ''})`);
      }
    }
  } finally {
    rl.close();
  }
  return answered;
}
