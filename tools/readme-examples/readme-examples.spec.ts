// Every package README's "Use as a library" example runs verbatim (through tsx, on the sources), each from an empty folder.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACKAGES, readmeExample, REPO } from './examples';

describe.each(PACKAGES)('@rlhfkit/%s README', (pkg) => {
  test('has a "Use as a library" example that runs as written', () => {
    const code = readmeExample(pkg);
    expect(code).not.toBeNull();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rlhfkit-readme-${pkg}-`));
    try {
      fs.writeFileSync(path.join(dir, 'example.ts'), code!);
      const r = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), 'example.ts'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 300_000,
        env: { ...process.env, TSX_TSCONFIG_PATH: path.join(REPO, 'tsconfig.json') },
      });
      if (r.status !== 0) throw new Error(`the example exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
