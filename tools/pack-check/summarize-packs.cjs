// Prints each tarball's size and contents by top folder, and fails when a package ships specs, fixtures or sources as its entry.
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2];
let bad = 0;
const kb = (n) => `${(n / 1024).toFixed(0)} KiB`;
console.log('   package                     tarball    unpacked  files  contents');
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
  const [info] = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  const groups = new Map();
  for (const file of info.files) {
    const top = file.path.includes('/') ? `${file.path.split('/')[0]}/` : file.path;
    groups.set(top, (groups.get(top) ?? 0) + 1);
  }
  const contents = [...groups].map(([g, n]) => (n > 1 || g.endsWith('/') ? `${g} ${n}` : g)).join(', ');
  console.log(`   ${info.name.padEnd(27)} ${kb(info.size).padStart(8)} ${kb(info.unpackedSize).padStart(10)} ${String(info.entryCount).padStart(6)}  ${contents}`);
  const shipped = info.files.map((x) => x.path);
  const tests = shipped.filter((p) => /\.spec\.|(^|\/)testing(\/|\.)|(^|\/)fixtures\/|jest\.config/.test(p));
  if (tests.length) {
    bad++;
    console.log(`     ships test files: ${tests.slice(0, 5).join(', ')}${tests.length > 5 ? ', ...' : ''}`);
  }
}
if (bad) {
  console.error(`${bad} package(s) ship test files`);
  process.exit(1);
}
