"""Shared fixtures: real audio, and a real `facewire run` process on private endpoints.

The daemon fixture starts the installed command as a subprocess with NOTIFY_SOCKET pointing
at a datagram socket the test owns, and waits for READY=1: the same notify protocol systemd
speaks, so every integration test also checks that the daemon reports readiness honestly.
"""

from __future__ import annotations

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

import numpy as np
import pytest
import soundfile as sf
import soxr
import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_WAV = REPO / "daemon" / "data" / "example.wav"
SHARED = REPO.parent / "shared"
SPEECH = SHARED / "data" / "speech"
FACEWIRE = shutil.which("facewire") or str(Path(sys.executable).with_name("facewire"))


@pytest.fixture(scope="session")
def example_pcm() -> tuple[np.ndarray, int]:
    pcm, rate = sf.read(str(EXAMPLE_WAV), dtype="float32")
    return pcm, rate


@pytest.fixture(scope="session")
def wav44k(tmp_path_factory, example_pcm) -> Path:
    """The example speech as a 44.1 kHz 16-bit wav (real speech, resampled)."""
    pcm, rate = example_pcm
    path = tmp_path_factory.mktemp("audio") / "speech44k.wav"
    sf.write(str(path), soxr.resample(pcm, rate, 44_100), 44_100, subtype="PCM_16")
    return path


def offline_diff(tmp_path: Path, sid: str, sig: np.ndarray, rate: int, frames: list) -> float:
    """Largest |streamed - offline| weight of one stream: `sig` is converted with
    `facewire convert --engine dsp`, and the streamed frames must be exactly its frames."""
    path = tmp_path / f"{sid}.wav"
    sf.write(str(path), sig, rate, subtype="FLOAT")
    out = tmp_path / f"{sid}.json"
    subprocess.run(
        [FACEWIRE, "convert", str(path), "-o", str(out), "--engine", "dsp", "-q"],
        check=True,
        timeout=60,
    )
    ref = np.array(json.loads(out.read_text())["weights"])
    got = np.array([f.weights for f in frames])
    assert [f.seq for f in frames] == list(range(len(ref)))
    return float(np.abs(got - ref).max())


def terminate(proc: subprocess.Popen) -> None:
    """SIGTERM a facewire process and wait for it to drain; SIGKILL it after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Daemon:
    """A running `facewire run` process with ipc endpoints in a private directory."""

    def __init__(self, tmp: Path, config: dict, extra_args: list[str] | None = None) -> None:
        self.dir = tmp
        self.ingest = f"ipc://{tmp}/ingest"
        self.pub = f"ipc://{tmp}/pub"
        self.control = f"ipc://{tmp}/control"
        cfg = {"sockets": {"ingest": self.ingest, "pub": self.pub, "control": self.control}}
        for section, values in config.items():
            cfg.setdefault(section, {}).update(values)
        cfg.setdefault("daemon", {}).setdefault("log_format", "json")
        # One process unless a test asks for workers: dozens of test daemons each spawning
        # a worker per core would load a small CI machine for no coverage; the default
        # (auto) has its own test in test_workers.py.
        cfg["daemon"].setdefault("workers", 1)
        self.config_path = tmp / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(cfg))
        self.notify_path = str(tmp / "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notifications: list[str] = []
        self.notified_at: list[float] = []  # time.monotonic() of each notification's arrival
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read_notifications, daemon=True)
        self._reader.start()
        self.log_path = tmp / "daemon.log"
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path, OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [FACEWIRE, "run", "--config", str(self.config_path), *(extra_args or [])],
            stdout=open(self.log_path, "wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.wait_for("READY=1", 30)

    def _read_notifications(self) -> None:
        # Read continuously, as systemd does: the daemon drops notifications it cannot send.
        self.notify.settimeout(0.2)
        while not self._closed.is_set():
            try:
                text = self.notify.recv(4096).decode()
                self.notified_at.append(time.monotonic())
                self.notifications.append(text)
            except TimeoutError:
                continue
            except OSError:
                return

    def wait_for(self, state: str, timeout: float) -> str:
        """Wait until a notification contains `state`; fail on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(state in n for n in list(self.notifications)):
                return state
            if self.proc.poll() is not None and not any(
                state in n for n in list(self.notifications)
            ):
                time.sleep(0.3)  # let the reader catch the last datagrams
                if not any(state in n for n in list(self.notifications)):
                    raise AssertionError(f"daemon exited ({self.proc.returncode}):\n{self.log()}")
            time.sleep(0.01)
        raise AssertionError(f"no {state} within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def events(self, name: str) -> list[dict]:
        """The daemon's JSON log lines whose `event` is `name`, parsed, in order."""
        text = self.log_path.read_text(errors="replace")
        lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
        out = []
        for line in lines:  # the last line may still be being written: it is left out
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("event") == name:
                    out.append(entry)
        return out

    def wait_for_event(self, name: str, count: int, timeout: float) -> list[dict]:
        """Wait until the log holds `count` `name` events; fail on timeout, with the log."""
        deadline = time.monotonic() + timeout
        while len(found := self.events(name)) < count:
            assert time.monotonic() < deadline, (
                f"{count} {name} not logged in {timeout} s:\n{self.log()}"
            )
            assert self.proc.poll() is None, (
                f"daemon exited ({self.proc.returncode}):\n{self.log()}"
            )
            time.sleep(0.02)
        return found

    def reload(self, timeout: float = 10.0) -> None:
        """SIGHUP, then wait until the daemon has read the new config (RELOADING=1 goes out
        before the file is read, so it is no sign of the reload being done)."""
        before = len(self.events("config_reloaded"))
        self.signal(signal.SIGHUP)
        self.wait_for("RELOADING=1", timeout)
        self.wait_for_event("config_reloaded", before + 1, timeout)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        terminate(self.proc)
        self._closed.set()
        self._reader.join(2)
        self.notify.close()
        return self.proc.returncode


@pytest.fixture
def start_daemon():
    """Factory: start_daemon(config_dict, extra_args) -> Daemon; all stopped at the end."""
    started: list[Daemon] = []
    dirs: list[str] = []

    def start(config: dict | None = None, extra_args: list[str] | None = None) -> Daemon:
        # ipc paths must stay short (108 bytes), so not under pytest's long tmp_path.
        tmp = Path(tempfile.mkdtemp(prefix="fw-"))
        dirs.append(str(tmp))
        d = Daemon(tmp, config or {}, extra_args)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def dsp_daemon(start_daemon):
    return start_daemon({"daemon": {"engine": "dsp"}})
