"""Determinism: the same audio gives the same frames, however it is chunked or delivered.

One signal (real speech, a reversed copy, a pause, speech again: about 9.5 s at 44.1 kHz, so
the resampler's state matters) is streamed through a live daemon with chunks of 10 ms, 37 ms,
1 s and 5 s, and converted offline through the same stages; every frame must agree within
1e-4, for the DSP and the learned engine.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import soxr

from facewire.client import Client, Subscriber, wait_for_subscription
from facewire.convert import convert_pcm
from facewire.engines.registry import load_engine

RATE = 44_100
CHUNKS_MS = (10, 37, 1000, 5000)


@pytest.fixture(scope="module")
def signal_44k(example_pcm) -> np.ndarray:
    pcm, rate = example_pcm
    pause = np.zeros(rate // 2, dtype=np.float32)
    sig16 = np.concatenate([pcm, pcm[::-1], pause, pcm]).astype(np.float32)
    return soxr.resample(sig16, rate, RATE).astype(np.float32)


def _stream(d, sig, chunk_ms: int):
    with Client(d.ingest) as c, Subscriber(d.pub, "det") as s:
        wait_for_subscription(s, c, probe_id=f"det-probe{chunk_ms}-")
        c.send_pcm("det", sig, RATE, chunk_ms=chunk_ms)
        _, frames, ended = s.collect("det", timeout_s=60)
    assert ended.frames == len(frames) and ended.reason == "closed"
    assert [f.seq for f in frames] == list(range(len(frames)))
    return (
        np.array([f.weights for f in frames], dtype=np.float32),
        np.array([f.emotions for f in frames], dtype=np.float32),
        np.array([f.speaking for f in frames]),
    )


@pytest.mark.parametrize("engine", ["dsp", "onnx"])
def test_chunking_and_delivery_do_not_change_frames(start_daemon, signal_44k, engine):
    try:
        offline_engine = load_engine(engine, 30.0)
    except (ImportError, RuntimeError, OSError) as exc:
        pytest.skip(f"{engine} engine unavailable: {exc}")
    ref = convert_pcm(signal_44k, RATE, offline_engine, stream_id="det")
    expected = math.ceil(len(signal_44k) / RATE * 30 - 1e-9)
    assert len(ref.weights) == expected
    d = start_daemon({"daemon": {"engine": engine}})
    for chunk_ms in CHUNKS_MS:
        weights, emotions, speaking = _stream(d, signal_44k, chunk_ms)
        assert weights.shape == ref.weights.shape, chunk_ms
        assert np.abs(weights - ref.weights).max() <= 1e-4, chunk_ms
        assert np.abs(emotions - ref.emotions).max() <= 1e-4, chunk_ms
        assert speaking.any() and not speaking.all(), chunk_ms


@pytest.mark.parametrize("kind", ["learned", "silero", "energy"])
def test_speaking_flags_do_not_depend_on_chunking(example_pcm, kind):
    from facewire.engines.vad import make_vad

    pcm, _ = example_pcm
    sig = np.concatenate([np.zeros(8000, np.float32), pcm, np.zeros(16000, np.float32)])
    flags = []
    for chunk in (160, 593, 16000):
        vad = make_vad(kind, 30.0)
        out = []
        for pos in range(0, len(sig), chunk):
            vad.push(sig[pos : pos + chunk])
            out.append(vad.take())
        vad.finish()
        out.append(vad.take())
        flags.append(np.concatenate(out))
    assert all(np.array_equal(flags[0], f) for f in flags[1:])
    f = flags[0]
    assert not f[:10].any(), "leading silence is not speech"
    assert f[20:90].mean() > 0.5 and not f[-15:].any(), "speech is, trailing silence is not"
