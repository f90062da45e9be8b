"""How many CPUs this process may use: what `daemon.workers: auto` resolves to.

`os.cpu_count()` counts the host's CPUs, not ours: a container or a systemd unit is limited
by its CPU affinity (cpuset, `taskset`, `CPUAffinity=`) and by a CFS bandwidth quota
(`docker --cpus`, `CPUQuota=`), which cgroup v2 shows in `cpu.max` and cgroup v1 in
`cpu.cfs_quota_us` / `cpu.cfs_period_us`. The smaller of the two is what we get.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def _own_cgroups(proc_cgroup: Path) -> dict[str, str]:
    """Controller (or "" for the v2 hierarchy) -> this process's cgroup path."""
    out: dict[str, str] = {}
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            out[controller] = path
    return out


def _read_quota(path: Path) -> float | None:
    """CPUs a CFS quota allows, from a v2 `cpu.max` or a v1 cpu controller directory."""
    try:
        if path.name == "cpu.max":
            quota, period = path.read_text().split()
            return None if quota == "max" else int(quota) / int(period)
        quota = int((path / "cpu.cfs_quota_us").read_text())
        period = int((path / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 else quota / period


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup"), proc: Path | None = None) -> float | None:
    """The CFS quota on this process's cgroup in CPUs, or None when there is none."""
    own = _own_cgroups(proc or Path("/proc/self/cgroup"))
    candidates = []
    if "" in own:  # cgroup v2 (unified)
        candidates.append(root / own[""].lstrip("/") / "cpu.max")
        candidates.append(root / "cpu.max")
    if "cpu" in own:  # cgroup v1, mounted as cpu/ or cpu,cpuacct/
        for base in (root / "cpu", root / "cpu,cpuacct"):
            candidates += [base / own["cpu"].lstrip("/"), base]
    for path in candidates:
        limit = _read_quota(path)
        if limit is not None:
            return limit
    return None


def usable_cpus(root: Path = Path("/sys/fs/cgroup"), proc: Path | None = None) -> int:
    """Whole CPUs this process may run on: affinity, capped by a cgroup quota (at least 1)."""
    cpus = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit(root, proc)
    if limit is not None:
        cpus = min(cpus, max(1, math.floor(limit)))
    return max(1, cpus)
