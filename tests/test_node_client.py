"""End-to-end: the Node.js example subscriber prints a live daemon's frames.

Needs `node` and the example's packages (`npm ci --prefix examples/node`); skipped otherwise.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

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
        [NODE, str(NODE_DIR / "subscriber.js"), dsp_daemon.pub, "--count", "40"],
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
