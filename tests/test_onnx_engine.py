"""OnnxEngine: streaming equals offline, batching equals one at a time (also with more
streams than the state pool first holds, ended streams and slots out of order), int8 stays
close to the float model, and the committed model moves the mouth right on a real recording
(lips meet on /b p m/, jaw opens on vowels)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from facewire.arkit import ARKIT_INDEX  # noqa: E402
from facewire.engines.base import frames_for  # noqa: E402
from facewire.engines.onnx import OnnxEngine  # noqa: E402
from tests.conftest import SPEECH  # noqa: E402
from tests.streaming import feed_together, stream_in_chunks  # noqa: E402

BOBBY = SPEECH / "aligned" / "praatIO"


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    """Noise bursts with pauses: exercises silence, onsets and the final partial frame."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000) + 37
    env = (np.sin(np.arange(n) / 16000 * 2 * np.pi * 2.5) > -0.2).astype(np.float32)
    tone = np.sin(np.arange(n) / 16000 * 2 * np.pi * 180).astype(np.float32)
    return (0.1 * env * (tone + 0.3 * rng.standard_normal(n))).astype(np.float32)


@pytest.fixture(scope="module")
def engine() -> OnnxEngine:
    return OnnxEngine(fps=30.0)


def test_missing_model_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="lip-sync model missing"):
        OnnxEngine(model_path=tmp_path / "nope.onnx")


@pytest.fixture(scope="module")
def fp32_engine() -> OnnxEngine:
    return OnnxEngine(fps=30.0, precision="fp32")


def test_precision_is_checked_and_int8_is_the_default(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="precision"):
        OnnxEngine(precision="fp16")
    assert OnnxEngine().precision == "int8"  # the committed lipsync-int8.onnx exists
    model = Path(OnnxEngine().model_path).with_name("lipsync.onnx")
    (tmp_path / "m.onnx").write_bytes(model.read_bytes())
    (tmp_path / "m.json").write_bytes(model.with_suffix(".json").read_bytes())
    assert OnnxEngine(model_path=tmp_path / "m.onnx").precision == "fp32"  # auto: no int8
    with pytest.raises(FileNotFoundError, match="int8 model missing"):
        OnnxEngine(model_path=tmp_path / "m.onnx", precision="int8")


def test_int8_stays_close_to_fp32(engine: OnnxEngine, fp32_engine: OnnxEngine) -> None:
    pcm = _speechlike(3.0, seed=5)
    a = stream_in_chunks(engine, pcm, 320)
    b = stream_in_chunks(fp32_engine, pcm, 320)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 0.05
    assert np.abs(a - b).mean() <= 0.005


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_many_streams_share_the_state_pool(precision: str) -> None:
    """70 streams (the pool starts with 8 and doubles), ending at different ticks so that
    calls also go through the gather/scatter path, then 70 new streams on the freed slots:
    every stream's frames equal that stream alone."""
    eng = OnnxEngine(fps=30.0, precision=precision)
    pcms = [_speechlike(0.3 + 0.02 * (i % 9), seed=100 + i) for i in range(70)]
    chunks = [320] * 70
    first = feed_together(eng, pcms, chunks)
    again = feed_together(eng, pcms[::-1], chunks)[::-1]  # freed slots, other streams on them
    for i in range(0, 70, 7):
        alone = stream_in_chunks(eng, pcms[i], 320)
        assert np.abs(first[i] - alone).max() <= 1e-4
        assert np.abs(again[i] - alone).max() <= 1e-4


@pytest.mark.parametrize("precision", ["int8", "fp32"])
@pytest.mark.parametrize("chunk", [160, 1000, 7777])
def test_streamed_equals_offline(
    engine: OnnxEngine, fp32_engine: OnnxEngine, chunk: int, precision: str
) -> None:
    engine = engine if precision == "int8" else fp32_engine
    pcm = _speechlike(2.3, seed=chunk)
    offline = engine.process([(engine.new_stream(), pcm, True)])[0]
    streamed = stream_in_chunks(engine, pcm, chunk)
    assert offline.shape == (frames_for(len(pcm), 30.0), 52)
    assert streamed.shape == offline.shape
    assert np.abs(streamed - offline).max() <= 1e-4


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_frame_count_and_range(fps: float) -> None:
    eng = OnnxEngine(fps=fps)
    for n in (1, 159, 160, 16000, 16001, 23456):
        out = stream_in_chunks(eng, _speechlike(n / 16000, seed=n)[:n], 999)
        assert out.shape == (frames_for(n, fps), 52)
        assert out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_three_streams_batched_equal_one_at_a_time(engine: OnnxEngine) -> None:
    pcms = [_speechlike(s, seed=i) for i, s in enumerate((1.1, 2.0, 0.7))]
    chunks = (480, 1600, 333)
    alone = [stream_in_chunks(engine, p, c) for p, c in zip(pcms, chunks, strict=True)]
    together = feed_together(engine, pcms, chunks)
    for i in range(3):
        assert together[i].shape == alone[i].shape
        assert np.abs(together[i] - alone[i]).max() <= 1e-4


def _phones(path: Path) -> list[tuple[float, float, str]]:
    """Intervals of the first tier of a Praat long-format TextGrid."""
    text = path.read_text()
    found = re.findall(r'xmin = ([\d.]+)\s+xmax = ([\d.]+)\s+text = "([^"]*)"', text)
    return [(float(a), float(b), lab) for a, b, lab in found]


@pytest.mark.skipif(not (BOBBY / "bobby.wav").exists(), reason="shared speech data not present")
def test_real_speech_lips_close_and_jaw_opens(engine: OnnxEngine) -> None:
    import soundfile as sf
    import soxr

    pcm, sr = sf.read(BOBBY / "bobby.wav", dtype="float32")
    if pcm.ndim > 1:
        pcm = pcm.mean(axis=1)
    pcm16k = soxr.resample(pcm, sr, 16000).astype(np.float32)
    w = stream_in_chunks(engine, pcm16k, 1600)
    t = np.arange(len(w)) / 30.0
    jaw = w[:, ARKIT_INDEX["jawOpen"]]
    aperture = (
        np.clip(jaw - w[:, ARKIT_INDEX["mouthClose"]], 0, None)
        + 0.25
        * (w[:, ARKIT_INDEX["mouthLowerDownLeft"]] + w[:, ARKIT_INDEX["mouthLowerDownRight"]])
        + 0.25 * (w[:, ARKIT_INDEX["mouthUpperUpLeft"]] + w[:, ARKIT_INDEX["mouthUpperUpRight"]])
    )
    phones = _phones(BOBBY / "bobby_phones.TextGrid")
    closures, openings = [], []
    for a, b, lab in phones:
        near = (t >= a - 1 / 30) & (t <= b + 1 / 30)
        if not near.any():
            continue
        base = lab.rstrip("012").upper()
        if base in {"P", "B", "M"}:
            closures.append(aperture[near].min())
        elif base in {"AA", "AE", "AO", "AW", "AY"}:
            openings.append(jaw[near].max())
    assert closures and openings
    assert min(closures) <= 0.1, f"lips never meet on /p b m/: {closures}"
    assert max(openings) >= 0.25, f"jaw never opens on open vowels: {openings}"
    assert np.median(openings) > np.median(closures) + 0.1
