"""The emotion training pipeline in miniature: a few steps, twice (the same bytes), export,
load in the run-time EmotionModel, estimate a stream."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from facewire.engines.base import frames_for
from facewire.engines.emotion_model import EmotionModel

ROOT = Path(__file__).resolve().parent.parent


def _voice(f0: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A buzzy vowel-like tone with a wobbling pitch, then a pause."""
    t = np.arange(int(seconds * 16_000)) / 16_000
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))) / 16_000
    x = sum(np.sin(k * phase) / k for k in range(1, 12)) * 0.1
    x = x * (np.sin(2 * np.pi * 2 * t) > -0.5) + 0.001 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def test_emotion_training_smoke(tmp_path: Path) -> None:
    for module in ("torch", "onnx"):
        try:
            __import__(module)
        except ImportError:
            pytest.skip(f"{module} not installed: pip install -e '.[train]' to run the smoke")
    data = tmp_path / "emodb"
    data.mkdir()
    rng = np.random.default_rng(0)
    for speaker, base in (("03", 110.0), ("08", 210.0)):
        for k, letter in enumerate("WFTAENL"):  # EmoDB's seven labels
            sf.write(data / f"{speaker}a01{letter}a.wav", _voice(base * (1 + 0.1 * k), 2.0, rng),
                     16_000)  # fmt: skip
    outs = []
    for run in ("a", "b"):  # fixed seeds: the same weights, byte for byte
        out = tmp_path / f"{run}.onnx"
        cmd = [sys.executable, "-m", "training.emotion", "--data", str(data), "--layout", "emodb",
               "--steps", "3", "--copies", "1", "--cache", str(tmp_path / "cache"),
               "--holdout", "emodb:08", "--out", str(out)]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240,
                              env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "holdout cold: UAR" in proc.stdout
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    model = EmotionModel(tmp_path / "a.onnx")
    est = model.new_stream(30.0)
    pcm = _voice(150.0, 3.0, rng)
    est.push(pcm)
    est.finish()
    raw = est.pop(est.ready())
    assert raw.shape == (frames_for(len(pcm), 30.0), 10)
    assert np.all(raw >= 0) and np.all(raw.sum(axis=1) <= 1 + 1e-6) and raw.sum() > 0
