"""`facewire convert --ray` against a real local Ray head (`ray start --head`, loopback only).

Ray is started here with two CPUs and no dashboard, in its own process group (stopped by
that group at the end), and converts 200 short real-speech clips: every output must be
byte-identical to local `convert`'s, and a file that cannot be converted is reported by
name after its second try.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import FACEWIRE

pytest.importorskip("ray")
pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).with_name("ray"))
N_FILES = 200
# Ray resolves loopback to the machine's outward address unless told this host is alone.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    tmp = Path(tempfile.mkdtemp(prefix="fwray-"))  # Ray's unix socket paths must stay short
    port, client_port = _free_port(), _free_port()
    log = open(tmp / "head.log", "wb")
    proc = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--ray-client-server-port={client_port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={tmp / 't'}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **RAY_ENV},
        start_new_session=True,  # its own process group: everything Ray starts stops with it
    )
    try:
        deadline = time.monotonic() + 180
        while b"Ray runtime started" not in (tmp / "head.log").read_bytes():
            assert proc.poll() is None, (tmp / "head.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "ray start --head did not come up in 180 s"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        proc.wait(10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def library(tmp_path_factory, example_pcm) -> Path:
    """200 clips of 0.5-1 s cut from the example speech, and one file that is not audio."""
    pcm, rate = example_pcm
    root = tmp_path_factory.mktemp("library")
    for i in range(N_FILES):
        length = rate // 2 + (i * 797) % (rate // 2)
        start = (i * 1931) % (len(pcm) - length)
        sf.write(
            str(root / f"line{i:04d}.wav"), pcm[start : start + length], rate, subtype="PCM_16"
        )
    (root / "broken.wav").write_bytes(b"RIFF not really a wav file")
    return root


def test_ray_output_is_byte_identical_to_local_convert(ray_head, library, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "ray"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r_local = subprocess.run(
        [FACEWIRE, "convert", str(library), "-o", f"{local}/", "-q"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    r_ray = subprocess.run(
        [FACEWIRE, "convert", str(library), "-o", f"{remote}/", "-q", "--ray", ray_head],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    for r in (r_local, r_ray):  # the broken file fails; the other 200 convert
        assert r.returncode == 1, r.stderr[-3000:]
        assert "1 of 201 files failed" in r.stderr
    assert f"{library / 'broken.wav'}: " in r_ray.stderr and "(failed twice)" in r_ray.stderr
    names = sorted(p.name for p in local.iterdir())
    assert len(names) == N_FILES and sorted(p.name for p in remote.iterdir()) == names
    for name in names:
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
