// The adapter registry: a new dataset is one file that calls registerAdapter; dispatch is by substring, like DeepSpeed-Chat.
import { DataError } from '../errors';
import type { DatasetAdapter } from './types';

const adapters: DatasetAdapter[] = [];

/** Add (or replace, by name) an adapter. */
export function registerAdapter(adapter: DatasetAdapter): DatasetAdapter {
  const i = adapters.findIndex((a) => a.name === adapter.name);
  if (i >= 0) adapters[i] = adapter;
  else adapters.push(adapter);
  return adapter;
}

export function unregisterAdapter(name: string): boolean {
  const i = adapters.findIndex((a) => a.name === name);
  if (i >= 0) adapters.splice(i, 1);
  return i >= 0;
}

export function listAdapters(): readonly DatasetAdapter[] {
  return [...adapters];
}

/**
 * The adapter for a `--data_path`: the registered name contained in it (so `./data/Dahoas/rm-static`
 * selects Dahoas/rm-static). DeepSpeed-Chat takes the first match of a fixed if-chain; with an open
 * registry we take the longest matching name so that more specific adapters win whatever the order.
 */
export function findAdapter(dataPath: string): DatasetAdapter | undefined {
  const p = dataPath.replace(/\\/g, '/');
  let best: DatasetAdapter | undefined;
  for (const a of adapters) if (p.includes(a.name) && (!best || a.name.length > best.name.length)) best = a;
  return best;
}

export function adapterFor(dataPath: string): DatasetAdapter {
  const a = findAdapter(dataPath);
  if (!a) {
    throw new DataError(
      `no dataset adapter matches --data_path '${dataPath}'. The path must contain one of: ${adapters.map((x) => x.name).join(', ')}. ` +
        `To use another dataset, register an adapter (see packages/data/README.md, "Adding a dataset") or convert it to local/jsonfile.`,
    );
  }
  return a;
}
