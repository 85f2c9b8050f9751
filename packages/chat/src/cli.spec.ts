import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import OpenAI from 'openai';
import { REPL_PROMPT, roundBanner } from './repl';
import { tinyChatModel, type TinyChatModel } from './testing';

const RLHFKIT = path.resolve(__dirname, '../../../node_modules/.bin/rlhfkit');

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runWithInput(args: string[], input: string): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(RLHFKIT, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

describe('the rlhfkit chat and serve commands', () => {
  let fixture: TinyChatModel;
  beforeAll(async () => {
    fixture = await tinyChatModel();
  });
  afterAll(() => fixture.remove());

  it('chats through pipes: rounds, clear resets the history, quit exits', async () => {
    const r = await runWithInput(['chat', '--path', fixture.dir, '--max_new_tokens', '8'], 'hello there\nhow are you?\nclear\nwhat is new?\nquit\nnever answered\n');
    expect(r.stderr).toContain('chat: ');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out.startsWith(REPL_PROMPT)).toBe(true);
    expect(out).toContain(`${roundBanner(1)}\n Human: hello there\n Assistant: `);
    expect(out).toContain(`${roundBanner(2)}\n Human: how are you?\n Assistant: `);
    // After clear the conversation starts over at round 1.
    expect(out).toContain(`${REPL_PROMPT}clear\n${REPL_PROMPT}what is new?\n${roundBanner(1)}\n Human: what is new?`);
    expect(out).toContain(`${REPL_PROMPT}quit`);
    expect(out).not.toContain('never answered');
    expect(out.split('Round ').length - 1).toBe(3);
  });

  // util-linux `script` gives the command a pseudo-terminal: readline then echoes and edits the line itself.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  (hasScript ? it : it.skip)('chats in a pseudo-terminal, typing each line when the prompt appears', async () => {
    const cmd = `${RLHFKIT} chat --path ${fixture.dir} --max_new_tokens 6`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = ['hello there', 'clear', 'again', 'quit'];
    let out = '';
    let prompts = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const seen = out.split(REPL_PROMPT).length - 1;
      while (prompts < seen && lines.length > 0) {
        prompts++;
        child.stdin.write(`${lines.shift()}\r`);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const plain = out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');
    expect(code).toBe(0);
    expect(plain).toContain(`${REPL_PROMPT}hello there\n${roundBanner(1)}\n Human: hello there\n Assistant: `);
    expect(plain).toContain(`${REPL_PROMPT}again\n${roundBanner(1)}\n Human: again`);
    expect(plain).toContain(`${REPL_PROMPT}quit`);
  });

  it('serves on a free port, answers the openai client, and stops on SIGTERM', async () => {
    const child = spawn(RLHFKIT, ['serve', '--path', fixture.dir, '--port', '0', '--served_model_name', 'tiny'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Serving on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('close', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    try {
      const client = new OpenAI({ baseURL: url, apiKey: 'unused', maxRetries: 0 });
      const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
      expect(r.usage?.completion_tokens).toBeLessThanOrEqual(4);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toContain('shutting down');
    expect(stderr).toMatch(/POST \/v1\/chat\/completions 200/);
  });
});
