// How many CPUs this process may use: the scheduler's view (affinity) capped by a cgroup CPU quota (containers).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Reads a file, or null when it is missing or unreadable. */
type ReadFile = (file: string) => string | null;

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** CPUs granted by a cgroup v2 `cpu.max` ("max 100000" or "150000 100000"), or null when unlimited/unreadable. */
function quotaV2(text: string | null): number | null {
  if (text == null) return null;
  const [quota, period] = text.trim().split(/\s+/);
  const q = Number(quota);
  const p = Number(period ?? 100000);
  if (quota === 'max' || !(q > 0) || !(p > 0)) return null;
  return q / p;
}

/** CPUs granted by cgroup v1 cfs_quota_us / cfs_period_us (quota -1 = unlimited), or null. */
function quotaV1(quota: string | null, period: string | null): number | null {
  const q = Number(quota?.trim());
  const p = Number(period?.trim());
  if (!(q > 0) || !(p > 0)) return null;
  return q / p;
}

/**
 * The CPU quota of this process's cgroup (v2, else v1), in CPUs, or null when there is none. The cgroup path comes
 * from /proc/self/cgroup; the quota is looked up at that path and at the mount's root (a container usually sees its
 * own cgroup as the root). `read` is injectable for specs.
 */
export function cgroupCpuQuota(read: ReadFile = readOrNull, root = '/sys/fs/cgroup'): number | null {
  const self = read('/proc/self/cgroup') ?? '';
  const v2Path = /^0::(.*)$/m.exec(self)?.[1]?.trim() ?? '/';
  const v1Path = /^\d+:[^:]*\bcpu\b[^:]*:(.*)$/m.exec(self)?.[1]?.trim() ?? '/';
  const found: number[] = [];
  for (const dir of new Set([path.posix.join(root, v2Path), root])) {
    const q = quotaV2(read(path.posix.join(dir, 'cpu.max')));
    if (q != null) found.push(q);
  }
  for (const base of [path.posix.join(root, 'cpu'), path.posix.join(root, 'cpu,cpuacct')]) {
    for (const dir of new Set([path.posix.join(base, v1Path), base])) {
      const q = quotaV1(read(path.posix.join(dir, 'cpu.cfs_quota_us')), read(path.posix.join(dir, 'cpu.cfs_period_us')));
      if (q != null) found.push(q);
    }
  }
  return found.length > 0 ? Math.min(...found) : null;
}

/**
 * The CPUs this process may use: os.availableParallelism() (the affinity mask where Node knows it), capped by the
 * cgroup's CPU quota rounded down (1.5 CPUs of quota -> 1 thread: a second would be throttled half the time); at least 1.
 */
export function availableCpus(read: ReadFile = readOrNull, root = '/sys/fs/cgroup'): number {
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const quota = process.platform === 'linux' ? cgroupCpuQuota(read, root) : null;
  const capped = quota != null ? Math.min(cpus, Math.floor(quota)) : cpus;
  return Math.max(1, capped);
}
