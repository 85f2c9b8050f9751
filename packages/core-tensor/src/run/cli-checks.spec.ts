// runCli's checks on a small command set: unknown flags with "did you mean", values as typed, ranges, one line per error, the handler hook.
import type { Argv, CommandModule } from 'yargs';
import { flagRules, suggestName } from './cli-checks';
import { runCli } from './cli-main';
import { checkFlag } from './flags';

const ran: string[] = [];
const train: CommandModule<object, Record<string, unknown>> = {
  command: 'train',
  describe: 'train',
  builder: (y: Argv) =>
    y
      .option('learning_rate', { alias: 'learning-rate', type: 'number' })
      .option('max_new_tokens', { type: 'number' })
      .option('top_p', { type: 'number' })
      .option('local_rank', { type: 'number' })
      .option('do_sample', { type: 'boolean' })
      .option('output_dir', { type: 'string' })
      .option('data_path', { type: 'string', array: true })
      .option('backend', { type: 'string', choices: ['cpu', 'wasm'] })
      .check(flagRules({ top_p: { min: 0, minExclusive: true, max: 1 }, local_rank: { int: true, min: -1 } })) as Argv<Record<string, unknown>>,
  handler: (a) => void ran.push(`train lr=${String(a.learning_rate)} data=${JSON.stringify(a.data_path ?? null)}`),
};
const boom: CommandModule<object, object> = {
  command: 'boom',
  describe: 'fails',
  handler: () => {
    throw new Error('rlhfkit: first line\nsecond line');
  },
};
const group: CommandModule<object, object> = {
  command: 'step <command>',
  describe: 'a group',
  builder: (y: Argv) => y.command(train).command(boom).demandCommand(1),
  handler: () => undefined,
};

async function cli(argv: string[], hook?: () => void): Promise<{ err: string; code: number }> {
  let err = '';
  const saved = process.exitCode;
  process.exitCode = 0;
  await runCli('rlhfkit', [group, train], argv, { exitProcess: false, writeError: (t) => void (err += t), beforeHandler: hook });
  const code = Number(process.exitCode ?? 0);
  process.exitCode = saved;
  return { err, code };
}

describe('runCli checks', () => {
  const cases: [string[], string][] = [
    [['train', '--learning_rat', '1'], 'unknown flag --learning_rat for `rlhfkit train`; did you mean --learning_rate?'],
    [['step', 'train', '--max_tokens', '3'], 'unknown flag --max_tokens for `rlhfkit step train`; did you mean --max_new_tokens?'],
    [['train', '--learning-rate', 'fast'], "--learning-rate must be a number, got 'fast'"],
    [['train', '--learning_rate', 'Infinity'], '--learning_rate must be a finite number, got Infinity'],
    [['train', '--learning_rate', '-1'], '--learning_rate must be >= 0, got -1'],
    [['train', '--local_rank', '-2'], '--local_rank must be an integer >= -1, got -2'],
    [['train', '--top_p', '0'], '--top_p must be a number in (0, 1], got 0'],
    [['train', '--output_dir'], '--output_dir needs a value'],
    [['train', '--data_path', '--top_p', '1'], '--data_path needs at least one value'],
    [['train', '--do_sample=maybe'], '--do_sample is a switch: write --do_sample or --no-do_sample, not --do_sample=maybe'],
    [['train', '--do_sample', 'maybe'], "--do_sample is a switch and takes no value, got 'maybe' (write --do_sample, or --no-do_sample)"],
    [['train', '--backend', 'tpu'], "--backend must be one of cpu, wasm, got 'tpu'"],
    [['step', 'trian'], "unknown command 'trian' for `rlhfkit step`; did you mean train?"],
    [['step'], '`rlhfkit step` needs a subcommand: train, boom'],
    [['step', 'boom'], 'first line second line'],
  ];
  for (const [argv, message] of cases) {
    test(`rlhfkit ${argv.join(' ')}`, async () => {
      const r = await cli(argv);
      expect(r.code).toBe(1);
      expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.err).toContain(`rlhfkit: ${message}`);
      expect(r.err).not.toContain('rlhfkit: rlhfkit:');
    });
  }

  test('good command lines run; --local_rank -1 (DeepSpeed\'s default) is a valid negative; a value flag given twice keeps its last value', async () => {
    ran.length = 0;
    const argv = ['train', '--local_rank', '-1', '--learning_rate', '1e-3', '--learning_rate', '2e-3', '--top_p', '0.9', '--data_path', 'a', '--data_path', 'b'];
    expect((await cli(argv)).code).toBe(0);
    // a list flag given twice gathers both; a later 1 is a value, not yargs-parser's count increment (5 then 1 is not 6)
    expect((await cli(['train', '--learning_rate', '5', '--learning-rate=1'])).code).toBe(0);
    expect(ran).toEqual(['train lr=0.002 data=["a","b"]', 'train lr=1 data=null']);
  });

  test('the handler hook runs after every check (a range check registered by the builder still refuses)', async () => {
    let hooked = 0;
    const hook = (): void => void hooked++;
    expect((await cli(['step', 'train', '--top_p', '2'], hook)).code).toBe(1);
    expect(hooked).toBe(0);
    ran.length = 0;
    expect((await cli(['step', 'train', '--top_p', '0.5'], hook)).code).toBe(0);
    expect([hooked, ran]).toEqual([1, ['train lr=undefined data=null']]);
  });

  test('suggestions: small edits, or all the words of the typo in one name', () => {
    expect(suggestName('learnin_rate', ['learning_rate', 'lora_learning_rate'])).toBe('learning_rate');
    expect(suggestName('max_tokens', ['max_new_tokens', 'max_seq_len'])).toBe('max_new_tokens');
    expect(suggestName('zzz', ['learning_rate'])).toBeNull();
  });

  test('checkFlag says what it got for values JSON cannot show', () => {
    expect(() => checkFlag.number(Infinity, 'learning_rate', 0)).toThrow('--learning_rate must be a number >= 0, got Infinity');
    expect(() => checkFlag.int(NaN, 'seed', 0)).toThrow('--seed must be an integer >= 0, got a value that is not a number');
  });
});
