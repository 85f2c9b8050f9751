// Every registered command, every flag given a wrong type, a negative and a typo'd name: exit 1 with one line naming the flag.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gpt2TokenizerWithMerges, saveTokenizer } from '@rlhfkit/core-tensor';
import { describeCommands, leafCommands, runCli, type CommandInfo } from '@rlhfkit/core-tensor/cli';
import { commands } from './commands';
import { baseArgv, casesFor, judge, type FuzzAnswer, type FuzzCase } from './fuzz-cases';

const BIN = path.resolve(__dirname, '../bin/rlhfkit.js');

/** Runs a command line through runCli in this process; the handler never runs (reaching it counts as accepted). */
async function inProcess(argv: string[]): Promise<FuzzAnswer> {
  let stderr = '';
  let accepted = false;
  const saved = process.exitCode;
  process.exitCode = 0;
  await runCli('rlhfkit', commands, argv, {
    exitProcess: false,
    writeError: (t) => void (stderr += t),
    beforeHandler: () => {
      accepted = true;
      throw new Error('stop before the handler');
    },
  });
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = saved;
  return { accepted, exitCode, stderr: accepted ? '' : stderr };
}

/** The real `rlhfkit` program (tsx), for a sample. */
function spawned(argv: string[]): Promise<FuzzAnswer & { stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => void (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
    child.on('exit', (code) => resolve({ accepted: false, exitCode: code ?? -1, stderr, stdout }));
  });
}

describe('rlhfkit command-line fuzz', () => {
  let tree: CommandInfo[];
  let leaves: CommandInfo[];
  beforeAll(() => {
    tree = describeCommands(commands);
    leaves = leafCommands(tree);
  });

  test('yargs reports the commands registered in commands.ts, each with flags', () => {
    const names = tree.map((c) => c.path[0]);
    for (const c of commands) expect(names).toContain(String(c.command).split(' ')[0]);
    for (const must of ['generate', 'sft train', 'sft eval', 'reward train', 'reward eval', 'data info', 'init-model']) {
      expect(leaves.map((c) => c.path.join(' '))).toContain(must);
    }
  });

  test('each command line with only the required flags is accepted (so every rejection below is the bad flag\'s)', async () => {
    const refused: string[] = [];
    for (const c of leaves) {
      const a = await inProcess(baseArgv(c));
      if (!a.accepted) refused.push(`${c.path.join(' ')}: ${a.stderr.trim()}`);
    }
    expect(refused).toEqual([]);
  });

  test('every flag of every command: a wrong type, a negative and a typo each exit 1 with one line naming the flag', async () => {
    const all: FuzzCase[] = [];
    let notApplicable = 0;
    for (const c of leaves) {
      const r = casesFor(c);
      all.push(...r.cases);
      notApplicable += r.notApplicable;
    }
    const failures: string[] = [];
    const byKind = new Map<string, number>();
    for (const fc of all) {
      const why = judge(fc, await inProcess(fc.argv));
      if (why) failures.push(`rlhfkit ${fc.argv.join(' ')} [${fc.kind} of --${fc.flag}]: ${why}`);
      else byKind.set(fc.kind, (byKind.get(fc.kind) ?? 0) + 1);
    }
    const flags = leaves.reduce((n, c) => n + c.flags.length, 0);
    process.stderr.write(
      `cli fuzz: ${leaves.length} commands, ${flags} flags, ${all.length} cases: ${all.length - failures.length} clear errors ` +
        `(${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}), ${failures.length} not clear; ${notApplicable} flags take any text (no negative case)\n`,
    );
    expect(failures).toEqual([]);
    expect(all.length).toBeGreaterThan(300);
  });

  test('each command group without a subcommand names them in one line, and a typo\'d subcommand gets a "did you mean"', async () => {
    for (const g of tree.filter((c) => c.subcommands.length)) {
      const none = await inProcess(g.path);
      expect(none.exitCode).toBe(1);
      expect(none.stderr.trim().split('\n')).toHaveLength(1);
      for (const s of g.subcommands) expect(none.stderr).toContain(s.path[s.path.length - 1]);
      const sub = g.subcommands[0].path[g.path.length];
      const typo = await inProcess([...g.path, sub.slice(0, -1)]);
      expect(typo.exitCode).toBe(1);
      expect(typo.stderr).toMatch(new RegExp(`unknown command '${sub.slice(0, -1)}' for \`rlhfkit ${g.path.join(' ')}\`; did you mean ${sub}\\?`));
    }
  });

  test('the real rlhfkit program gives the same one-line answers (a sample, spawned)', async () => {
    const sample = [
      ['generate', '--model', 'x', '--prompt', 'hi', '--max_tokens', '3'],
      ['sft', 'train', '--learning_rate', 'Infinity'],
      ['reward', 'eval', '--model_name_or_path', 'x', '--threads', '0'],
      ['data', 'info', '--seed', '-1'],
    ];
    // and `data info --tokenizer DIR`, which the real program (tsx) could not run: a dynamic import of a .ts module
    const tokDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-cli-tok-'));
    saveTokenizer(await gpt2TokenizerWithMerges(200), tokDir);
    const infoArgs = ['data', 'info', '--data_path', 'rlhfkit/demo', '--tokenizer', tokDir, '--max_seq_len', '32', '--json'];
    const [info, ...real] = await Promise.all([infoArgs, ...sample].map(spawned));
    fs.rmSync(tokDir, { recursive: true, force: true });
    expect(info.stderr).not.toMatch(/Unknown file extension/);
    expect(info.exitCode).toBe(0);
    expect(info.stdout).toContain('"tokenized":');
    for (let i = 0; i < sample.length; i++) {
      const inner = await inProcess(sample[i]);
      expect(real[i].exitCode).toBe(1);
      expect(real[i].stderr).toBe(inner.stderr);
    }
    expect(real.map((r) => r.stderr.trim())).toEqual([
      'rlhfkit: unknown flag --max_tokens for `rlhfkit generate`; did you mean --max_new_tokens? (`rlhfkit generate --help` lists the flags)',
      'rlhfkit: --learning_rate must be a finite number, got Infinity (`rlhfkit sft train --help` lists the flags)',
      'rlhfkit: --threads must be an integer >= 1, got 0 (`rlhfkit reward eval --help` lists the flags)',
      'rlhfkit: --seed must be >= 0, got -1 (`rlhfkit data info --help` lists the flags)',
    ]);
  }, 60_000);
});
