"""Shared pieces of the daemon benchmarks: the machine, real speech, a daemon process.

Every benchmark records the machine (CPU, cores, load average at the time) next to its
numbers, because this project's machine is shared and a number without its load is not
reproducible.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from facewire.pcm import SAMPLE_RATE

REPO = Path(__file__).resolve().parents[1]
SPEECH_DIR = REPO.parent / "shared" / "data" / "speech" / "aligned" / "pocketsphinx"
EXAMPLE_WAV = REPO / "daemon" / "data" / "example.wav"
FACEWIRE = shutil.which("facewire") or str(Path(sys.executable).with_name("facewire"))
RATE = SAMPLE_RATE  # facewire.pcm: the pipeline's rate


def machine() -> dict:
    """CPU model, cores, load average and time of a measurement."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "python": platform.python_version(),
    }


def print_rows(head: str, line, rows, json_path: str | None) -> list[dict]:
    """Print a markdown table row by row as results arrive; save them with the machine as JSON."""
    print(head)
    done = []
    for row in rows:
        done.append(row)
        print(line(row), flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps({"machine": machine(), "rows": done}, indent=1))
    return done


def speech_16k() -> np.ndarray:
    """Real speech at 16 kHz, float32 (n,): the LibriVox clips plus the example, ~28 s."""
    import soundfile as sf

    parts = [sf.read(str(p), dtype="float32")[0] for p in sorted(SPEECH_DIR.glob("*.wav"))]
    ex, rate = sf.read(str(EXAMPLE_WAV), dtype="float32")
    assert rate == RATE
    parts.append(ex)
    return np.concatenate([p if p.ndim == 1 else p.mean(axis=1) for p in parts]).astype("f4")


def stream_audio(speech: np.ndarray, index: int, seconds: float) -> np.ndarray:
    """Stream `index`'s signal: the speech rotated so every stream says something else."""
    n = int(seconds * RATE)
    start = (index * 7919 * RATE // 1000) % len(speech)
    reps = -(-(start + n) // len(speech))
    return np.tile(speech, reps)[start : start + n]


def percentiles(values_ms, qs=(50, 95, 99)) -> dict:
    arr = np.asarray(values_ms, dtype=float)
    if not len(arr):
        return {f"p{q}": None for q in qs}
    return {f"p{q}": round(float(np.percentile(arr, q)), 2) for q in qs}


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a daemon with `workers > 1` runs worker processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):  # a process that just ended
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def proc_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants, MB."""
    total = 0.0
    for p in process_tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (all their threads)."""
    total = 0.0
    for p in process_tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class DaemonProc:
    """`facewire run` on ipc endpoints in a private directory, with its READY time."""

    def __init__(self, config: dict | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fwb-"))
        self.ingest = f"ipc://{self.dir}/ingest"
        self.pub = f"ipc://{self.dir}/pub"
        self.control = f"ipc://{self.dir}/control"
        cfg = {
            "daemon": {"log_format": "json", "log_level": "warning"},
            "sockets": {"ingest": self.ingest, "pub": self.pub, "control": self.control},
        }
        for section, values in (config or {}).items():
            cfg.setdefault(section, {}).update(values)
        (self.dir / "config.yaml").write_text(yaml.safe_dump(cfg))
        notify_path = str(self.dir / "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path, OMP_NUM_THREADS="1")
        self.log_path = self.dir / "daemon.log"
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [FACEWIRE, "run", "--config", str(self.dir / "config.yaml")],
            stdout=open(self.log_path, "wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.notify.settimeout(60)
        while b"READY=1" not in self.notify.recv(4096):
            pass
        self.ready_s = time.perf_counter() - t0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return proc_rss_mb(self.pid)

    def cpu_s(self) -> float:
        return proc_cpu_s(self.pid)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.notify.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode

    def __enter__(self) -> DaemonProc:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
