// The `rlhfkit/demo` adapter: the built-in demo dataset in rm-static format, built on first use.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dahoasRmStatic } from '../adapters/english';
import type { DatasetAdapter } from '../adapters/types';
import { DataError } from '../errors';
import { loadFolderRows } from '../raw-dataset';
import { defaultDemoDir, DEMO_STAMP, ensureDemoDataset } from './dataset';

/** The name itself means the default copy (built on first use); any other path must be an existing folder. */
async function demoRoot(dataPath: string): Promise<string> {
  if (fs.existsSync(dataPath)) return dataPath;
  if (dataPath.replace(/\/+$/, '') === 'rlhfkit/demo') return ensureDemoDataset();
  throw new DataError(`demo dataset folder not found; pass 'rlhfkit/demo' for the built-in copy or a folder made by ensureDemoDataset().`, { file: dataPath });
}

/** Dahoas/rm-static's layout and text formats, read from the built-in copy. */
export const rlhfkitDemo: DatasetAdapter = {
  ...dahoasRmStatic,
  name: 'rlhfkit/demo',
  cleanName: 'rlhfkit_demo',
  async load(ctx) {
    return loadFolderRows(rlhfkitDemo, await demoRoot(ctx.dataPath));
  },
  sourceFiles(ctx) {
    const root = fs.existsSync(ctx.dataPath) ? ctx.dataPath : defaultDemoDir();
    const stamp = path.join(root, DEMO_STAMP);
    return fs.existsSync(stamp) ? [stamp] : [];
  },
};
