// Builds the built-in demo preference dataset (Moby-Dick + State of the Union sentences ranked by AFINN-165) into a folder.
// Usage: npx tsx tools/build-demo-data.ts [--out DIR] [--train N] [--test N] [--seed S] [--force]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildDemoDataset, defaultDemoDir, DEMO_STAMP, ensureDemoDataset } from '../packages/data/src/demo';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const out = path.resolve(arg('out') ?? defaultDemoDir());
  const options = {
    trainPairs: arg('train') ? Number(arg('train')) : undefined,
    testPairs: arg('test') ? Number(arg('test')) : undefined,
    seed: arg('seed') ? Number(arg('seed')) : undefined,
  };
  const clean = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const t0 = Date.now();
  if (process.argv.includes('--force')) {
    fs.rmSync(out, { recursive: true, force: true });
    buildDemoDataset(out, clean);
  } else await ensureDemoDataset(out, clean);
  const stamp = fs.readFileSync(path.join(out, DEMO_STAMP), 'utf8');
  process.stdout.write(`demo dataset ready in ${out} (${Date.now() - t0} ms)\n${stamp}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`build-demo-data: ${err.message}\n`);
  process.exit(1);
});
