// Model/dataset name resolution: a local folder, else the Hugging Face hub cache layout; never a download.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type HubKind = 'model' | 'dataset';

/** A name or path that resolves to no local folder; `searched` lists every place looked at. */
export class ResolveError extends Error {
  constructor(
    message: string,
    readonly searched: string[],
  ) {
    super(message);
    this.name = 'ResolveError';
  }
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

/** Hugging Face's home folder, as huggingface_hub and datasets pick it: $HF_HOME, $XDG_CACHE_HOME/huggingface, ~/.cache/huggingface. */
export function hfHomeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  return path.join(env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'), 'huggingface');
}

/** The hub cache folder, as huggingface_hub picks it: $HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return expandHome(env.HF_HUB_CACHE);
  if (env.HUGGINGFACE_HUB_CACHE) return expandHome(env.HUGGINGFACE_HUB_CACHE); // the older name of the same setting
  return path.join(hfHomeDir(env), 'hub');
}

/** The `datasets` library's cache (Arrow files load_dataset prepared): $HF_DATASETS_CACHE, else <HF home>/datasets. */
export function datasetsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_DATASETS_CACHE ? expandHome(env.HF_DATASETS_CACHE) : path.join(hfHomeDir(env), 'datasets');
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** `org/name` -> `models--org--name` (or `datasets--org--name`). */
export function hubRepoFolderName(kind: HubKind, repoId: string): string {
  return `${kind}s--${repoId.split('/').join('--')}`;
}

/**
 * A repo's snapshot in the hub cache: `<cache>/models--org--name/snapshots/<rev>/` where rev is the one
 * `refs/<revision>` names (or `revision` itself, a commit hash), or without a revision the one `refs/main` names,
 * else the most recently modified snapshot. Each place looked at is appended to `searched`; undefined when none.
 */
export function findHubSnapshot(kind: HubKind, repoId: string, revision?: string, searched: string[] = [], cache = hubCacheDir()): string | undefined {
  const repoDir = path.join(cache, hubRepoFolderName(kind, repoId));
  const snapshots = path.join(repoDir, 'snapshots');
  const refFile = path.join(repoDir, 'refs', revision ?? 'main');
  let rev: string | undefined;
  if (fs.existsSync(refFile)) rev = fs.readFileSync(refFile, 'utf8').trim();
  else if (revision) rev = revision; // a commit hash given directly
  if (rev) {
    const snap = path.join(snapshots, rev);
    searched.push(`${snap} (hub cache snapshot for ${revision ? `revision ${revision}` : 'refs/main'})`);
    if (isDir(snap)) return snap;
  }
  if (revision) return undefined;
  searched.push(`${snapshots}/* (most recent hub cache snapshot)`);
  if (!isDir(snapshots)) return undefined;
  const snaps = fs
    .readdirSync(snapshots)
    .filter((s) => !s.startsWith('.'))
    .map((s) => path.join(snapshots, s))
    .filter(isDir)
    .map((s) => ({ s, t: fs.statSync(s).mtimeMs }))
    .sort((a, b) => b.t - a.t || a.s.localeCompare(b.s));
  return snaps[0]?.s;
}

/**
 * Resolves `nameOrPath` to a folder: the path itself if it is a folder; else, for a hub id (`org/name`,
 * optionally `@revision`), its hub cache snapshot (findHubSnapshot). Throws a ResolveError listing
 * every place looked at; it never touches the network.
 */
export function resolveHubDir(kind: HubKind, nameOrPath: string): string {
  const searched: string[] = [];
  const local = path.resolve(expandHome(nameOrPath));
  searched.push(`${local} (local folder)`);
  if (isDir(local)) return local;

  const looksLikePath = /^(\.{1,2}|~)?[\\/]/.test(nameOrPath) || nameOrPath.startsWith('.') || path.isAbsolute(nameOrPath);
  const m = /^([^@]+?)(?:@([^@/]+))?$/.exec(nameOrPath);
  const repoId = m?.[1] ?? nameOrPath;
  const revision = m?.[2];
  const validId = !looksLikePath && /^[\w.-]+(\/[\w.-]+)?$/.test(repoId) && !repoId.includes('..');
  if (validId) {
    const snap = findHubSnapshot(kind, repoId, revision, searched);
    if (snap) return snap;
  }
  const what = kind === 'model' ? 'model' : 'dataset';
  throw new ResolveError(
    `cannot find ${what} '${nameOrPath}'. Looked in:\n  ${searched.join('\n  ')}\n` +
      (validId
        ? `rlhfkit does not download ${what}s (it never uses the network). Pass a local folder, or fill the Hugging Face cache ` +
          `(e.g. \`huggingface-cli download ${repoId}${kind === 'dataset' ? ' --repo-type dataset' : ''}\` on a machine with network, ` +
          'then copy the cache here or set HF_HUB_CACHE / HF_HOME).'
        : `'${nameOrPath}' is not an existing folder${looksLikePath ? '' : ' nor a valid hub id (org/name)'}.`),
    searched,
  );
}

/** A model name or path -> a local folder (see resolveHubDir). */
export function resolveModelDir(nameOrPath: string): string {
  return resolveHubDir('model', nameOrPath);
}

/** A dataset name or path -> a local folder (see resolveHubDir). */
export function resolveDatasetDir(nameOrPath: string): string {
  return resolveHubDir('dataset', nameOrPath);
}
