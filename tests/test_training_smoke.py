"""The training pipeline end to end in miniature: synth (flite), train, export, load."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_training_smoke(tmp_path: Path) -> None:
    for module in ("torch", "onnx"):
        try:
            __import__(module)
        except ImportError:
            pytest.skip(f"{module} not installed: pip install -e '.[train]' to run the smoke")
    if shutil.which("flite") is None:
        pytest.skip("flite not installed: apt-get install flite (training/setup.sh --smoke)")
    proc = subprocess.run(
        ["sh", str(ROOT / "training" / "smoke.sh"), str(tmp_path)],
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "smoke ok" in proc.stdout
    assert (tmp_path / "lipsync.onnx").stat().st_size > 100_000
