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

/** The hub cache folder, as huggingface_hub picks it: $HF_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return expandHome(env.HF_HUB_CACHE);
  if (env.HUGGINGFACE_HUB_CACHE) return expandHome(env.HUGGINGFACE_HUB_CACHE); // the older name of the same setting
  if (env.HF_HOME) return path.join(expandHome(env.HF_HOME), 'hub');
  if (env.XDG_CACHE_HOME) return path.join(expandHome(env.XDG_CACHE_HOME), 'huggingface', 'hub');
  return path.join(os.homedir(), '.cache', 'huggingface', 'hub');
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
 * Resolves `nameOrPath` to a folder: the path itself if it is a folder; else, for a hub id (`org/name`,
 * optionally `@revision`), `<cache>/models--org--name/snapshots/<rev>/` where rev is the revision asked for,
 * else the one `refs/main` names, else the most recently modified snapshot. Throws a ResolveError listing
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
    const cache = hubCacheDir();
    const repoDir = path.join(cache, hubRepoFolderName(kind, repoId));
    const snapshots = path.join(repoDir, 'snapshots');
    const wanted = revision ?? 'main';
    const refFile = path.join(repoDir, 'refs', wanted);
    let rev: string | undefined;
    if (fs.existsSync(refFile)) rev = fs.readFileSync(refFile, 'utf8').trim();
    else if (revision) rev = revision; // a commit hash given directly
    if (rev) {
      const snap = path.join(snapshots, rev);
      searched.push(`${snap} (hub cache snapshot for ${revision ? `revision ${revision}` : 'refs/main'})`);
      if (isDir(snap)) return snap;
    }
    if (!revision) {
      searched.push(`${snapshots}/* (most recent hub cache snapshot)`);
      if (isDir(snapshots)) {
        const snaps = fs
          .readdirSync(snapshots)
          .map((s) => path.join(snapshots, s))
          .filter(isDir)
          .map((s) => ({ s, t: fs.statSync(s).mtimeMs }))
          .sort((a, b) => b.t - a.t);
        if (snaps.length) return snaps[0].s;
      }
    }
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
