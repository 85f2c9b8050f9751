// Runs tsc on a tsconfig and fails on errors in the consumer's files or in @rlhfkit's declarations. With skipLibCheck
// off, tfjs's and tokenizers' own .d.ts files have errors of their own (they need skipLibCheck): those are counted, not fatal.
const { spawnSync } = require('node:child_process');

const project = process.argv[2];
const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project], { encoding: 'utf8' });
const lines = (r.stdout + r.stderr).split('\n');
const ours = [];
const theirs = new Map();
let current = null;
for (const line of lines) {
  const m = /^(\S+?)\(\d+,\d+\): error /.exec(line);
  if (m) {
    const third = /^node_modules\/(?!@rlhfkit\/)((?:@[^/]+\/)?[^/]+)/.exec(m[1]);
    current = third ? null : ours;
    if (third) theirs.set(third[1], (theirs.get(third[1]) ?? 0) + 1);
    else ours.push(line);
  } else if (current && line.trim()) current.push(line);
}
const ignored = [...theirs].map(([p, n]) => `${p} ${n}`).join(', ');
if (ours.length) {
  console.log(ours.join('\n'));
  process.exit(1);
}
console.log(`   ${project}: no errors in the consumer or in @rlhfkit's declarations${ignored ? ` (third-party declarations' own errors, skipped by skipLibCheck: ${ignored})` : ''}`);
