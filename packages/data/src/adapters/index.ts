// Registers DeepSpeed-Chat's 16 datasets (in its dispatch order) and re-exports the adapter API.
import { cjkAdapters } from './cjk';
import { englishAdapters } from './english';
import { localJsonFile } from './local-jsonfile';
import { registerAdapter } from './registry';

/** Every built-in adapter: the 16 datasets DeepSpeed-Chat's get_raw_dataset knows. */
export const builtinAdapters = [...englishAdapters, ...cjkAdapters, localJsonFile];

for (const a of builtinAdapters) registerAdapter(a);

export * from './cjk';
export * from './english';
export * from './format';
export { COLUMN_FORMATS, resolveAdapter, type ColumnFormat } from './detect';
export { localJsonFile } from './local-jsonfile';
export { adapterFor, findAdapter, listAdapters, registerAdapter, unregisterAdapter } from './registry';
export type { DatasetAdapter, LoadContext, LoadedRows, SplitSpec } from './types';
