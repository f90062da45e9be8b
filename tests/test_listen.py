"""End-to-end: `facewire listen` prints a live daemon's messages readably, and as JSON that
keeps the contract's snake_case names, zeros and integers."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading

import numpy as np

from facewire.client import Client
from tests.conftest import FACEWIRE


def _lines_of(proc: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until(lines: queue.Queue, done, what: str, timeout_s: float = 20.0) -> list[str]:
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no {what} within {timeout_s} s; saw {seen[-5:]}") from None
        seen.append(line)
        if done(line):
            return seen


def test_listen_prints_readable_lines_and_contract_json(dsp_daemon, example_pcm):
    pcm, rate = example_pcm
    listeners = {
        mode: subprocess.Popen(
            [FACEWIRE, "listen", "--pub", dsp_daemon.pub, "--timeout", "60", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode, flags in (("plain", []), ("json", ["--json"]))
    }
    try:
        lines = {mode: _lines_of(p) for mode, p in listeners.items()}
        with Client(dsp_daemon.ingest) as c:
            # Probe streams until both have joined (a SUB misses what came before it).
            joined = set()
            for n in range(200):
                c.open_stream(f"probe{n}", 16000)
                c.close_stream(f"probe{n}")
                for mode in set(listeners) - joined:
                    try:
                        lines[mode].get(timeout=0.1)
                        joined.add(mode)
                    except queue.Empty:
                        pass
                if joined == set(listeners):
                    break
            assert joined == set(listeners), "listen never received anything"
            c.send_pcm("talk", pcm[: rate // 2], rate)  # 0.5 s: 15 frames
        plain = _until(lines["plain"], lambda s: s.startswith("talk ended"), "plain end")
        raw = _until(lines["json"], lambda s: '"stream": "talk"' in s and "stream_ended" in s,
                     "json end")  # fmt: skip
    finally:
        for p in listeners.values():
            p.kill()
            p.wait(5)
    talk = [s for s in plain if s.startswith("talk ")]
    assert re.fullmatch(
        r"talk started: 30 fps, dsp engine, model \S+, lookahead 22\.5 ms; 55 channels "
        r"\(52 ARKit \+ headYaw, headPitch, headRoll\), 10 emotions",
        talk[0],
    ), talk[0]
    assert talk[-1] == "talk ended (closed): 15 frames, 0.50 s of audio, 0 chunks dropped"
    assert len(talk) == 17

    docs = [json.loads(s) for s in raw]
    docs = [d for d in docs if d["stream"] == "talk"]
    started, frames, ended = docs[0], docs[1:-1], docs[-1]
    assert set(started["stream_started"]) >= {"blendshape_names", "emotion_names", "lookahead_ms"}
    first = frames[0]["animation_frame"]
    assert first["seq"] == 0 and first["timecode"] == 0.0  # zeros are kept
    assert {"speaking", "emotions_raw", "audio_arrival_ns", "publish_ns"} <= set(first)
    assert [f["animation_frame"]["seq"] for f in frames] == list(range(15))  # numbers
    assert all(isinstance(f["animation_frame"]["publish_ns"], int) for f in frames)
    assert len(first["weights"]) == 55 and np.isfinite(first["weights"]).all()
    assert ended["stream_ended"] == {
        "stream_id": "talk",
        "frames": 15,
        "reason": "closed",
        "audio_seconds": 0.5,
        "dropped_chunks": 0,
    }
