"""`daemon.workers: auto`: the CPUs this process may use, from affinity and cgroup quotas."""

from __future__ import annotations

import os

import pytest

from facewire import config
from facewire.cpus import cgroup_cpu_limit, usable_cpus

AFFINITY = len(os.sched_getaffinity(0))


def _tree(tmp_path, proc_lines: str, files: dict[str, str]):
    for rel, text in files.items():
        path = tmp_path / "cg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "cgroup").write_text(proc_lines)
    return tmp_path / "cg", tmp_path / "cgroup"


def test_cgroup_v2_quota_caps_the_cpus(tmp_path):
    root, proc = _tree(tmp_path, "0::/app.slice/fw.service\n",
                       {"app.slice/fw.service/cpu.max": "150000 100000\n"})  # fmt: skip
    assert cgroup_cpu_limit(root, proc) == 1.5
    assert usable_cpus(root, proc) == 1  # 1.5 CPUs of time keep one worker busy, not two


def test_cgroup_v2_without_a_quota_leaves_the_affinity(tmp_path):
    root, proc = _tree(tmp_path, "0::/x\n", {"x/cpu.max": "max 100000\n"})
    assert cgroup_cpu_limit(root, proc) is None
    assert usable_cpus(root, proc) == AFFINITY


def test_cgroup_v1_quota_is_read_from_the_cpu_controller(tmp_path):
    root, proc = _tree(
        tmp_path,
        "4:memory:/m\n3:cpu,cpuacct:/docker/abc\n0::/\n",
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "400000\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cgroup_cpu_limit(root, proc) == 4.0
    assert usable_cpus(root, proc) == min(AFFINITY, 4)


def test_cgroup_v1_unlimited_quota_is_no_limit(tmp_path):
    files = {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}
    root, proc = _tree(tmp_path, "1:cpu:/\n", files)
    assert cgroup_cpu_limit(root, proc) is None


def test_workers_auto_is_the_default_and_resolves_to_the_usable_cpus_for_the_zmq_source():
    resolve = config.resolve_workers
    for cfg in (config.load(None), config.from_dict({"daemon": {"workers": "auto"}})):
        assert cfg.daemon.workers == 0  # auto until the source is known
        assert resolve(cfg.with_overrides(daemon__engine="onnx")).daemon.workers == usable_cpus()
        # --source mic after the file was read: a microphone is one stream
        assert resolve(cfg.with_overrides(daemon__source="mic")).daemon.workers == 1
        assert resolve(cfg.with_overrides(daemon__engine="tensorrt")).daemon.workers == 1
    assert resolve(config.from_dict({"daemon": {"workers": 3}})).daemon.workers == 3
    with pytest.raises(config.ConfigError, match="daemon.workers"):
        config.from_dict({"daemon": {"workers": "many"}})
