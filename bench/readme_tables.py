"""Write bench/results.json's tables into README.md and draw docs/cost_curve.png.

    python bench/readme_tables.py [--results bench/results.json] [--check]

Each generated table in the README sits between two markers:

    <!-- bench table: PREFIX -->
    ...
    <!-- /bench -->

where PREFIX is the table's name in results.json (`run_all.py` names them) without the
measured value some names end in, " (max sustained: 64)". The text between the markers is
replaced; prose outside them is left alone.
`--check` exits 1 if the README's tables would change (they are stale).
run_all.py calls this at the end of every full run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PICTURE = ROOT / "docs" / "cost_curve.png"
BLOCK = re.compile(r"(<!-- bench table: (.+?) -->\n)(.*?)(<!-- /bench -->)", re.S)


class StaleError(RuntimeError):
    """A marker names no table in the results."""


def fill(readme: str, tables: dict[str, str]) -> str:
    """The README with every marked block replaced by its table."""

    def table(m: re.Match) -> str:
        prefix = m.group(2)
        hits = [t for name, t in tables.items() if name.split(" (max sustained")[0] == prefix]
        if len(hits) != 1:
            raise StaleError(f"README marker {prefix!r} matches {len(hits)} tables in the results")
        return f"{m.group(1)}{hits[0].strip()}\n{m.group(4)}"

    return BLOCK.sub(table, readme)


def draw(load: dict[str, list[dict]], out: Path) -> None:
    """CPU per stream and frames on time against open streams, one line per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cpu, ok) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    for name, rows in load.items():
        rows = sorted(rows, key=lambda r: r["streams"])
        n = [r["streams"] for r in rows]
        cpu.plot(n, [r["daemon_cpu_s_per_audio_s_per_stream"] for r in rows], "o-", label=name)
        ok.plot(n, [100 * r["deadline_met"] for r in rows], "o-", label=name)
    for ax in (cpu, ok):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("concurrent realtime streams")
        ax.grid(alpha=0.3)
    cpu.set_yscale("log")
    cpu.axhline(0.006, color="k", lw=0.8, ls="--")
    cpu.set_ylim(bottom=0.004)  # the target line stays in view
    cpu.set_ylabel("daemon CPU s per audio s per stream")
    cpu.set_title("cost per stream (dashed: 0.006 target)")
    ok.axhline(99, color="k", lw=0.8, ls="--")
    ok.set_ylabel("% of frames on time")
    ok.set_title("frames within the deadline (dashed: 99 %)")
    ok.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(out, metadata={"Software": None})  # no version stamp: same data, same bytes
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default=str(ROOT / "bench" / "results.json"))
    ap.add_argument("--check", action="store_true", help="exit 1 if anything is stale")
    args = ap.parse_args(argv)
    results = json.loads(Path(args.results).read_text())
    old = README.read_text()
    new = fill(old, results["tables"])
    if args.check:
        stale = new != old
        if stale:
            print("README.md benchmark tables are stale: run bench/readme_tables.py")
        return 1 if stale else 0
    README.write_text(new)
    draw(results["daemon_load"], PICTURE)
    print(f"wrote {README.name} tables and {PICTURE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
