// Renders metrics.jsonl as an SVG line chart: npx tsx tools/plot-metrics.ts metrics.jsonl --out loss.svg [--keys a,b]
// The same as `rlhfkit plot`; both call core-tensor's plotMetricsFile.
import { plotMetricsFile } from '../packages/core-tensor/src/cli-plot';

const USAGE = `usage: npx tsx tools/plot-metrics.ts <metrics.jsonl | run folder> [--out chart.svg] [--keys train/loss,eval/perplexity]
                                   [--title TEXT] [--log-y] [--width 800] [--height 450]
Without --keys, every metric whose name contains "loss" is drawn (or all metrics if none does).`;

interface Args {
  input: string;
  out?: string;
  keys?: string[];
  title?: string;
  logY: boolean;
  width?: number;
  height?: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { input: '', logY: false };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  const num = (s: string, flag: string): number => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got '${s}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (a === '--out' || a === '-o') args.out = value(i++, a);
    else if (a === '--keys') args.keys = value(i++, a).split(',').map((k) => k.trim()).filter(Boolean);
    else if (a === '--title') args.title = value(i++, a);
    else if (a === '--log-y') args.logY = true;
    else if (a === '--width') args.width = num(value(i++, a), a);
    else if (a === '--height') args.height = num(value(i++, a), a);
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else if (!args.input) args.input = a;
    else throw new Error(`unexpected argument '${a}'\n${USAGE}`);
  }
  if (!args.input) throw new Error(USAGE);
  return args;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const r = plotMetricsFile({ input: args.input, out: args.out, keys: args.keys, title: args.title, logY: args.logY, width: args.width, height: args.height });
  console.log(`wrote ${r.out} (${r.keys.join(', ')}; ${r.records} records)`);
}

try {
  main();
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
