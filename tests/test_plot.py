"""The animation plot: a real PNG of the requested size with something drawn on it.

The drawing tests skip without matplotlib (the `plot` extra); the missing-extra error is
tested either way.
"""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

from facewire.arkit import ARKIT_INDEX
from facewire.formats import Animation
from facewire.plot import plot_animation


def _anim(frames: int = 90) -> Animation:
    t = np.arange(frames) / 30.0
    weights = np.zeros((frames, 52), dtype=np.float32)
    weights[:, ARKIT_INDEX["jawOpen"]] = np.clip(np.sin(2 * np.pi * 3 * t), 0, 1)
    weights[:, ARKIT_INDEX["eyeBlinkLeft"]] = (t % 1.0) < 0.1
    emotions = np.zeros((frames, 10), dtype=np.float32)
    emotions[:, 6] = np.linspace(0, 1, frames)  # joy rises
    return Animation.build(30, weights, emotions=emotions, source="speech.wav")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_png_of_requested_size(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.image

    out = plot_animation(_anim(), tmp_path / "face.png", size_px=(900, 700))
    data = out.read_bytes()
    assert _png_size(data) == (900, 700)
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[:2] == (700, 900)
    assert float(pixels[..., :3].std()) > 0.05  # curves and fills, not a blank canvas


def test_plot_rejects_empty_animation(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="no frames"):
        plot_animation(Animation.build(30, np.zeros((0, 52))), tmp_path / "empty.png")


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)  # import fails
    with pytest.raises(ImportError, match=r"facewire\[plot\]"):
        plot_animation(_anim(), tmp_path / "face.png")
    assert not (tmp_path / "face.png").exists()


def test_the_readme_curve_picture_is_drawn_from_the_shipped_model() -> None:
    """docs/curves.png carries the numbers it shows; `make_pictures.py --check` converts the
    clip with the committed weights and compares. A failure here means: rerun
    `.venv/bin/python docs/make_pictures.py` and commit both pictures."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    r = subprocess.run(
        [sys.executable, str(repo / "docs" / "make_pictures.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "matches the shipped model" in r.stdout
