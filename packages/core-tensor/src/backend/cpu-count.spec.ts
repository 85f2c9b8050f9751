// Checks the CPU count that threads default to: affinity, cgroup v2 and v1 quotas (rounded down), none.
import * as os from 'node:os';
import { availableCpus, cgroupCpuQuota } from './cpu-count';

function files(map: Record<string, string>): (f: string) => string | null {
  return (f) => map[f] ?? null;
}

describe('availableCpus', () => {
  const cpus = os.availableParallelism();

  test('no cgroup quota: every CPU of the affinity mask', () => {
    expect(cgroupCpuQuota(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).toBeNull();
    expect(availableCpus(files({}))).toBe(cpus);
  });

  test('a cgroup v2 quota at the process\'s own cgroup caps it, rounded down, at least 1', () => {
    const read = files({ '/proc/self/cgroup': '0::/job/a\n', '/sys/fs/cgroup/job/a/cpu.max': '150000 100000\n' });
    expect(cgroupCpuQuota(read)).toBe(1.5);
    expect(availableCpus(read)).toBe(Math.min(cpus, 1));
    expect(availableCpus(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '20000 100000' }))).toBe(1);
  });

  test('cgroup v1 cfs quota (-1 = none) at the cpu controller\'s path or its root', () => {
    const v1 = (quota: string, at = '/sys/fs/cgroup/cpu/ci'): ((f: string) => string | null) => files({
      '/proc/self/cgroup': '4:memory:/x\n1:cpu,cpuacct:/ci\n0::/\n', [`${at}/cpu.cfs_quota_us`]: quota, [`${at}/cpu.cfs_period_us`]: '100000',
    });
    expect(cgroupCpuQuota(v1('-1'))).toBeNull();
    expect(cgroupCpuQuota(v1('400000'))).toBe(4);
    expect(cgroupCpuQuota(v1('100000', '/sys/fs/cgroup/cpu'))).toBe(1);
    expect(availableCpus(v1('100000'))).toBe(1);
  });

  test('this machine: a whole number between 1 and the CPU count', () => {
    const n = availableCpus();
    expect(Number.isInteger(n) && n >= 1 && n <= cpus).toBe(true);
  });
});
