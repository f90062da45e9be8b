"""End-to-end: the Node.js example subscriber prints a live daemon's frames, and its
README's commands work as written.

Needs `node` and the example's packages (`npm ci --prefix examples/node`); skipped otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from facewire.client import Client
from tests.conftest import REPO

NODE_DIR = REPO / "examples" / "node"
NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (NODE_DIR / "node_modules" / "zeromq").is_dir()
        or not (NODE_DIR / "node_modules" / "protobufjs").is_dir(),
        reason="run `npm ci --prefix examples/node` first",
    ),
]


def test_node_subscriber_prints_frames(dsp_daemon, example_pcm):
    pcm, rate = example_pcm
    proc = subprocess.Popen(
        [NODE, str(NODE_DIR / "subscriber.js"), dsp_daemon.pub, "--count", "40", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().startswith("subscribed to"), proc.stderr.read()
        stop = threading.Event()

        def stream_until_node_is_done() -> None:
            # The SUB joins late (slow joiner): keep streaming speech until node has its 40.
            with Client(dsp_daemon.ingest) as c:
                n = 0
                while not stop.is_set() and proc.poll() is None:
                    c.send_pcm(f"line{n}", pcm, rate, chunk_ms=100)
                    n += 1

        sender = threading.Thread(target=stream_until_node_is_done, daemon=True)
        sender.start()
        out, err = proc.communicate(timeout=60)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    sender.join(30)
    assert proc.returncode == 0, err
    frames = re.findall(r"^(line\d+) frame (\d+) t=([\d.]+) jawOpen=([\d.]+)$", out, re.M)
    assert len(frames) == 40, out
    starts = re.findall(r"^line\d+ started: (\d+) curves at (\d+) fps$", out, re.M)
    assert all(s == ("55", "30") for s in starts), starts
    first = frames[0][0]
    seqs = [int(seq) for sid, seq, _, _ in frames if sid == first]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert max(float(jaw) for *_, jaw in frames) > 0.2, "speech must open the jaw"
    for _, seq, t, _ in frames:
        assert abs(float(t) - int(seq) / 30) < 1e-3


def _readme_commands() -> list[str]:
    text = (NODE_DIR / "README.md").read_text()
    block = re.search(r"^```\n(.*?)^```", text, re.S | re.M)
    assert block, "examples/node/README.md has no command block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def _default_ports_free() -> bool:
    for port in (5555, 5556, 5557):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@pytest.mark.skipif(not _default_ports_free(), reason="tcp 5555-5557 are taken on this machine")
def test_the_readme_commands_run_as_written_and_the_subscriber_exits(tmp_path):
    """The README's daemon, sender and subscriber lines, verbatim, on the default ports
    (which is why this checks they are free first); `npm ci` has its own test below."""
    lines = [line for line in _readme_commands() if not line.startswith("npm ci")]
    assert len(lines) == 2 and "subscriber.js" in lines[-1]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen(
        ["bash", "-c", "\n".join(lines)],
        cwd=REPO,
        env=env,
        # Files, not pipes: the README's background daemon keeps its output open.
        stdout=open(tmp_path / "out.txt", "w"),
        stderr=open(tmp_path / "err.txt", "w"),
        start_new_session=True,  # so the README's background daemon can be stopped below
    )
    try:
        proc.wait(timeout=60)  # bash returns once node, in the foreground, has exited
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the daemon the README left running
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    out, err = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert proc.returncode == 0, err
    lines_out = out.strip().splitlines()
    assert lines_out[-1] == "example ended: 90 frames (closed)", out
    frames = re.findall(r"^example frame (\d+) t=", out, re.M)
    assert frames and frames[-1] == "89", out


def test_npm_ci_warns_about_no_install_script(tmp_path):
    """A fresh `npm ci` of the example (from npm's cache when the registry is away)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(NODE_DIR / name, tmp_path / name)
    r = subprocess.run(
        [npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode != 0 and re.search(r"ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED", r.stderr):
        pytest.skip(f"no npm registry or cache here: {r.stderr.strip()[-200:]}")
    assert r.returncode == 0, r.stderr
    assert "install-script" not in r.stdout + r.stderr, r.stderr
    assert "warn" not in r.stderr.lower(), r.stderr
    load = "const z = require('zeromq'); process.stdout.write(typeof z.Subscriber)"
    assert (
        subprocess.run(
            [NODE, "-e", load], cwd=tmp_path, capture_output=True, text=True, timeout=60
        ).stdout
        == "function"
    )
