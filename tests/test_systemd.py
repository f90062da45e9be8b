"""The systemd units (the daemon, the broker, and the daemon template for several per host):
valid for systemd, and hardened to an exposure score of 2.5 or better.

Both checks run offline (no systemd as PID 1 needed); they are skipped where Debian's
`systemd` package (systemd-analyze) is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import FACEWIRE, REPO

ANALYZE = shutil.which("systemd-analyze")
pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
# unit -> the facewire command its ExecStart runs
UNITS = {"facewire.service": "run", "facewire-broker.service": "broker", "facewire@.service": "run"}


@pytest.fixture(params=sorted(UNITS))
def unit_copy(request, tmp_path):
    """The unit with ExecStart pointing at the facewire this test run installed."""
    name = request.param
    text = (REPO / "systemd" / name).read_text()
    pattern = rf"^ExecStart=\S+/facewire {UNITS[name]} "
    assert re.search(pattern, text, re.M), f"{name}: ExecStart must run facewire {UNITS[name]}"
    path = tmp_path / name
    path.write_text(re.sub(r"^ExecStart=\S+", f"ExecStart={FACEWIRE}", text, flags=re.M))
    return path


def test_units_verify_cleanly(unit_copy):
    r = subprocess.run(
        [ANALYZE, "verify", str(unit_copy)], capture_output=True, text=True, timeout=60
    )
    stem = unit_copy.name.split("@")[0].removesuffix(".service")
    complaints = [line for line in r.stderr.splitlines() if stem in line]
    assert r.returncode == 0 and not complaints, r.stderr


def test_units_exposure_score_is_ok(unit_copy):
    r = subprocess.run(
        [ANALYZE, "security", "--offline=true", str(unit_copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", r.stdout)
    assert m, r.stdout[-2000:] + r.stderr
    assert float(m.group(1)) <= 2.5, m.group(0)
