// Runs the "Use as a library" example of each installed package's README.md verbatim (as an ES module, from its own
// empty folder) against the installed packages.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The first ```ts / ```js block under the "## Use as a library" heading, or null. */
export function libraryExample(markdown) {
  const at = markdown.search(/^## Use as a library\s*$/m);
  if (at < 0) return null;
  const m = /^```(?:ts|typescript|js|javascript)\n([\s\S]*?)^```/m.exec(markdown.slice(at));
  return m ? m[1] : null;
}

const root = path.resolve('node_modules', '@rlhfkit');
let failed = 0;
for (const name of fs.readdirSync(root).sort()) {
  const readme = path.join(root, name, 'README.md');
  const code = fs.existsSync(readme) ? libraryExample(fs.readFileSync(readme, 'utf8')) : null;
  if (code == null) {
    if (name !== 'cli') {
      failed++;
      console.log(`   @rlhfkit/${name}: no "Use as a library" example in its README.md`);
    }
    continue;
  }
  const dir = path.resolve('readme-examples', name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'example.mjs'), code);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', timeout: 600_000 });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  const lastLine = (r.stdout.trim().split('\n').pop() ?? '').slice(0, 100);
  if (r.status === 0) console.log(`   @rlhfkit/${name}: ok in ${secs} s  ${lastLine}`);
  else {
    failed++;
    console.log(`   @rlhfkit/${name}: FAILED (exit ${r.status}) in ${secs} s\n${r.stdout}\n${r.stderr}`);
  }
}
if (failed) process.exit(1);
