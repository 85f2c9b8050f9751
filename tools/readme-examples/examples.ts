// Finds the "Use as a library" example of each package README, for the spec that runs them verbatim (and pack-check).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '../..');

/** The packages whose README must carry a runnable library example. */
export const PACKAGES = ['core-tensor', 'data', 'sft', 'reward', 'dpo', 'ppo', 'chat', 'deploy'] as const;

/** The first ```ts / ```js block under the "## Use as a library" heading, or null. */
export function libraryExample(markdown: string): string | null {
  const at = markdown.search(/^## Use as a library\s*$/m);
  if (at < 0) return null;
  const m = /^```(?:ts|typescript|js|javascript)\n([\s\S]*?)^```/m.exec(markdown.slice(at));
  return m ? m[1] : null;
}

export function readmeExample(pkg: string): string | null {
  const file = path.join(REPO, 'packages', pkg, 'README.md');
  return fs.existsSync(file) ? libraryExample(fs.readFileSync(file, 'utf8')) : null;
}
