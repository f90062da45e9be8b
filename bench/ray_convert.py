"""`facewire convert --ray` against local `convert` on this machine: files per second.

    python bench/ray_convert.py [--files 200,600] [--engine auto] [--json out.json]

Makes a library of short lines (0.5-1 s of real speech each, as a dialogue library holds),
starts a local Ray head on loopback (`ray start --head`, 2 CPUs, no dashboard, its own
process group), and converts the library twice with the installed command: locally (the
default pool, one process per core) and with --ray. Wall times include interpreter start,
model load and (for Ray) connecting to the cluster, as a user sees them; Ray's own start is
reported apart. RSS is the whole Ray process group's, sampled every 0.5 s. Outputs are
compared byte for byte.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FACEWIRE, RATE, machine, proc_rss_mb, speech_16k  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def library(root: Path, n: int) -> float:
    """n lines of 0.5-1 s; returns their total seconds."""
    speech = speech_16k()
    total = 0
    for i in range(n):
        length = RATE // 2 + (i * 797) % (RATE // 2)
        start = (i * 7919) % (len(speech) - length)
        sf.write(
            str(root / f"line{i:05d}.wav"), speech[start : start + length], RATE, subtype="PCM_16"
        )
        total += length
    return total / RATE


def timed(cmd: list[str], rss_of: int | None = None) -> tuple[float, float]:
    """Wall seconds of `cmd`, and the peak RSS (MB) of process `rss_of`'s tree meanwhile."""
    peak, done = 0.0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.5):
            peak = max(peak, proc_rss_mb(rss_of))

    if rss_of:
        threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    r = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    wall = time.perf_counter() - t0
    done.set()
    if r.returncode:
        raise RuntimeError(f"{cmd[:3]} failed: {r.stderr[-2000:]}")
    return wall, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", default="200,600")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fwrb-"))
    port = _port()
    t0 = time.perf_counter()
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--ray-client-server-port={_port()}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={tmp / 't'}",
        ],
        stdout=open(tmp / "head.log", "wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **RAY_ENV},
        start_new_session=True,
    )
    rows = []
    try:
        while b"Ray runtime started" not in (tmp / "head.log").read_bytes():
            if head.poll() is not None or time.perf_counter() - t0 > 180:
                raise RuntimeError((tmp / "head.log").read_text(errors="replace"))
            time.sleep(0.2)
        ray_start_s = time.perf_counter() - t0
        time.sleep(2)
        ray_idle_mb = proc_rss_mb(head.pid)
        print(
            json.dumps(
                {
                    **machine(),
                    "ray_start_s": round(ray_start_s, 1),
                    "ray_idle_rss_mb": round(ray_idle_mb),
                }
            )
        )
        print(
            "| files | audio s | local s (files/s) | ray s (files/s) | ray/local throughput "
            "| Ray RSS peak MB | identical | load avg |\n|---|---|---|---|---|---|---|---|"
        )
        for n in (int(x) for x in args.files.split(",")):
            lib = tmp / f"lib{n}"
            lib.mkdir()
            audio_s = library(lib, n)
            load0 = machine()["load_avg_1m"]
            base = [FACEWIRE, "convert", str(lib), "-q", "--engine", args.engine]
            local_s, _ = timed([*base, "-o", f"{tmp}/local{n}/"])
            ray_s, ray_mb = timed(
                [*base, "-o", f"{tmp}/ray{n}/", "--ray", f"127.0.0.1:{port}"], head.pid
            )
            same = all(
                (tmp / f"ray{n}" / p.name).read_bytes() == p.read_bytes()
                for p in (tmp / f"local{n}").iterdir()
            )
            row = {
                "files": n,
                "audio_s": round(audio_s, 1),
                "local_s": round(local_s, 1),
                "ray_s": round(ray_s, 1),
                "ratio": round(local_s / ray_s, 2),
                "ray_rss_peak_mb": round(ray_mb),
                "identical": same,
                "load_avg_1m": [load0, machine()["load_avg_1m"]],
            }
            rows.append(row)
            print(
                f"| {n} | {row['audio_s']} | {row['local_s']} ({n / local_s:.1f}) "
                f"| {row['ray_s']} ({n / ray_s:.1f}) | {row['ratio']} | {row['ray_rss_peak_mb']} "
                f"| {same} | {load0}->{row['load_avg_1m'][1]} |",
                flush=True,
            )
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
