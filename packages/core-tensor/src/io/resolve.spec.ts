// Specs for model/dataset resolution: local folders, a faked HF hub cache under each env var, and the no-download error.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { datasetsCacheDir, hubCacheDir, resolveDatasetDir, resolveHubDir, resolveModelDir, ResolveError } from './resolve';

const ENV_KEYS = ['HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME', 'HF_DATASETS_CACHE'] as const;
let saved: Partial<Record<(typeof ENV_KEYS)[number], string>>;
let tmp: string;

beforeEach(() => {
  saved = {};
  for (const k of ENV_KEYS) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rlhfkit-resolve-'));
});
afterEach(() => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Lays out `<cache>/<kind>s--org--name/{refs/main, snapshots/<rev>/}` as huggingface_hub does. */
function fakeRepo(cache: string, folder: string, revs: string[], main?: string): string {
  const repo = path.join(cache, folder);
  for (const r of revs) {
    fs.mkdirSync(path.join(repo, 'snapshots', r), { recursive: true });
    fs.writeFileSync(path.join(repo, 'snapshots', r, 'config.json'), '{}');
  }
  if (main) {
    fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'refs', 'main'), main); // huggingface_hub writes the hash without a newline
  }
  return repo;
}

test('an existing local folder wins, relative or absolute', () => {
  const dir = path.join(tmp, 'my-model');
  fs.mkdirSync(dir);
  expect(resolveModelDir(dir)).toBe(dir);
  expect(resolveModelDir(path.relative(process.cwd(), dir))).toBe(dir);
});

test('cache root: HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub', () => {
  expect(hubCacheDir()).toBe(path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
  process.env.XDG_CACHE_HOME = '/x';
  expect(hubCacheDir()).toBe('/x/huggingface/hub');
  process.env.HF_HOME = '/h';
  expect(hubCacheDir()).toBe('/h/hub');
  process.env.HF_HUB_CACHE = '/c';
  expect(hubCacheDir()).toBe('/c');
});

test('the older HUGGINGFACE_HUB_CACHE name counts when HF_HUB_CACHE is unset; ~ expands', () => {
  process.env.HF_HOME = '/h';
  process.env.HUGGINGFACE_HUB_CACHE = '~/old';
  expect(hubCacheDir()).toBe(path.join(os.homedir(), 'old'));
});

test('datasets cache: HF_DATASETS_CACHE, else HF_HOME/datasets, else XDG_CACHE_HOME/huggingface/datasets, else ~/.cache/huggingface/datasets', () => {
  expect(datasetsCacheDir()).toBe(path.join(os.homedir(), '.cache', 'huggingface', 'datasets'));
  process.env.XDG_CACHE_HOME = '/x';
  expect(datasetsCacheDir()).toBe('/x/huggingface/datasets');
  process.env.HF_HOME = '/h';
  expect(datasetsCacheDir()).toBe('/h/datasets');
  process.env.HF_HUB_CACHE = '/c'; // the hub cache setting does not move the datasets cache
  expect(datasetsCacheDir()).toBe('/h/datasets');
  process.env.HF_DATASETS_CACHE = '/d';
  expect(datasetsCacheDir()).toBe('/d');
});

test('refs/main picks the snapshot, through HF_HUB_CACHE', () => {
  process.env.HF_HUB_CACHE = tmp;
  const repo = fakeRepo(tmp, 'models--facebook--opt-125m', ['aaa111', 'bbb222'], 'aaa111');
  fs.utimesSync(path.join(repo, 'snapshots', 'bbb222'), new Date(), new Date(Date.now() + 1e6)); // newer, but not main
  expect(resolveModelDir('facebook/opt-125m')).toBe(path.join(repo, 'snapshots', 'aaa111'));
  expect(resolveModelDir('facebook/opt-125m@bbb222')).toBe(path.join(repo, 'snapshots', 'bbb222'));
});

test('without refs/main the most recent snapshot is used, through HF_HOME/hub', () => {
  process.env.HF_HOME = tmp;
  const cache = path.join(tmp, 'hub');
  const repo = fakeRepo(cache, 'models--gpt2', ['old', 'new']);
  fs.utimesSync(path.join(repo, 'snapshots', 'old'), new Date(1e12), new Date(1e12));
  fs.utimesSync(path.join(repo, 'snapshots', 'new'), new Date(2e12), new Date(2e12));
  expect(resolveModelDir('gpt2')).toBe(path.join(repo, 'snapshots', 'new'));
});

test('datasets use datasets--org--name', () => {
  process.env.HF_HUB_CACHE = tmp;
  const repo = fakeRepo(tmp, 'datasets--Dahoas--rm-static', ['r1'], 'r1');
  expect(resolveDatasetDir('Dahoas/rm-static')).toBe(path.join(repo, 'snapshots', 'r1'));
  expect(() => resolveModelDir('Dahoas/rm-static')).toThrow(ResolveError);
});

test('not found: a ResolveError listing every place, saying rlhfkit does not download, without hanging', () => {
  process.env.HF_HUB_CACHE = tmp;
  fakeRepo(tmp, 'models--org--stale', [], undefined);
  fs.mkdirSync(path.join(tmp, 'models--org--stale', 'refs'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'models--org--stale', 'refs', 'main'), 'gone');
  const t0 = Date.now();
  let err: ResolveError | undefined;
  try {
    resolveHubDir('model', 'org/stale');
  } catch (e) {
    err = e as ResolveError;
  }
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(err).toBeInstanceOf(ResolveError);
  expect(err!.searched).toEqual([
    `${path.resolve('org/stale')} (local folder)`,
    `${path.join(tmp, 'models--org--stale', 'snapshots', 'gone')} (hub cache snapshot for refs/main)`,
    `${path.join(tmp, 'models--org--stale', 'snapshots')}/* (most recent hub cache snapshot)`,
  ]);
  expect(err!.message).toContain("cannot find model 'org/stale'");
  expect(err!.message).toContain('rlhfkit does not download models');
  expect(err!.message).toContain('huggingface-cli download org/stale');
});

test('a missing path-like name says it is not a folder, and does not consult the cache', () => {
  process.env.HF_HUB_CACHE = tmp;
  expect(() => resolveModelDir('./nope/model')).toThrow(/'\.\/nope\/model' is not an existing folder\./);
  let searched: string[] = [];
  try {
    resolveModelDir('/abs/nope');
  } catch (e) {
    searched = (e as ResolveError).searched;
  }
  expect(searched).toEqual(['/abs/nope (local folder)']);
});
