/**
 * CPUs this process may use: the machine's, capped by a container's CPU quota. Node's
 * availableParallelism() counted the host's CPUs even inside a container limited to two, which
 * would start a worker per host CPU; the quota is what the scheduler will actually give us.
 *
 * Still needed on Node 22 and 24, although their libuv (1.49+) reads the quota too: it rounds a
 * fractional quota down (1500m → 1, leaving half a CPU idle) where this rounds up; the first Node
 * 22 releases (libuv 1.48) do not read it at all; and libuv finds a cgroup v1 quota only under a
 * combined "cpu,cpuacct" controller. On a machine with a separate "cpu" hierarchy, Node 24.21
 * (libuv 1.52.1) in a 1-CPU cgroup still said 2 (measured).
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** CPUs allowed by a cgroup v2 `cpu.max` ("max 100000" or "200000 100000"), or null if unlimited. */
export function cpusFromCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === "max" || !quota || !period) return null;
  const cpus = Number(quota) / Number(period);
  return Number.isFinite(cpus) && cpus > 0 ? cpus : null;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** CPUs allowed by the cgroup quota (v2, else v1), or null when there is none. */
function quotaCpus(): number | null {
  const v2 = readOrNull("/sys/fs/cgroup/cpu.max");
  if (v2 !== null) return cpusFromCpuMax(v2);
  const quota = Number(readOrNull("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"));
  const period = Number(readOrNull("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
  return quota > 0 && period > 0 ? quota / period : null;
}

export function cpuCount(): number {
  const quota = quotaCpus();
  const cpus = availableParallelism();
  return Math.max(1, quota === null ? cpus : Math.min(cpus, Math.ceil(quota)));
}
