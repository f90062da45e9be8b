"""The systemd unit: valid for systemd, and hardened to an exposure score of 2.5 or better.

Both checks run offline (no systemd as PID 1 needed); they are skipped where Debian's
`systemd` package (systemd-analyze) is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import FACEWIRE, REPO

UNIT = REPO / "systemd" / "facewire.service"
ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


@pytest.fixture
def unit_copy(tmp_path):
    """The unit with ExecStart pointing at the facewire this test run installed."""
    text = UNIT.read_text()
    assert re.search(r"^ExecStart=\S+/facewire run ", text, re.M), "ExecStart must run facewire"
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={FACEWIRE}", text, flags=re.M)
    path = tmp_path / "facewire.service"
    path.write_text(text)
    return path


def test_unit_verifies_cleanly(unit_copy):
    r = subprocess.run(
        [ANALYZE, "verify", str(unit_copy)], capture_output=True, text=True, timeout=60
    )
    complaints = [line for line in r.stderr.splitlines() if "facewire.service" in line]
    assert r.returncode == 0 and not complaints, r.stderr


def test_unit_exposure_score_is_ok(unit_copy):
    r = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(unit_copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    m = re.search(r"Overall exposure level for facewire\.service: ([\d.]+) (\w+)", r.stdout)
    assert m, r.stdout[-2000:] + r.stderr
    assert float(m.group(1)) <= 2.5, m.group(0)
