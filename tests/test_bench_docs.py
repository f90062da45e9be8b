"""The README's benchmark tables are the ones in bench/results.json (bench/readme_tables.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import readme_tables  # noqa: E402


def test_readme_tables_match_the_committed_results():
    rc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "readme_tables.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rc.returncode == 0, rc.stdout + rc.stderr


def test_a_marker_is_filled_and_an_unknown_one_is_an_error():
    tables = {"Live streams, x (max sustained: 4)": "| a |\n|---|\n| 1 |"}
    readme = "text\n<!-- bench table: Live streams, x -->\nold\n<!-- /bench -->\nmore\n"
    assert readme_tables.fill(readme, tables) == (
        "text\n<!-- bench table: Live streams, x -->\n| a |\n|---|\n| 1 |\n<!-- /bench -->\nmore\n"
    )
    with pytest.raises(readme_tables.StaleError, match="matches 0 tables"):
        readme_tables.fill(readme.replace("x -->", "y -->"), tables)


def test_the_committed_results_hold_every_table_the_readme_marks():
    tables = json.loads((ROOT / "bench" / "results.json").read_text())["tables"]
    readme = (ROOT / "README.md").read_text()
    marked = readme_tables.BLOCK.findall(readme)
    assert len(marked) == len(tables)
