"""Every daemon benchmark in one run: bench/results.json plus the README's markdown tables.

    python bench/run_all.py [--quick] [--engine auto]

Runs, in order (about 10.5 minutes on a 2-core machine; --quick: about 4):
  1. engine_cost.py   engine alone: CPU s per audio s per stream, features vs model split
  2. stage_cost.py    every per-stream stage (engine, VAD, emotion, face, protobuf)
  3. vad_agreement.py learned and energy VADs vs Silero on held-out, noisy speech; cost
  4. startup.py       time to sd_notify READY, idle RSS
  5. convert_speed.py offline `facewire convert`, x real time, one process and all cores,
     and a folder of 100 files on all cores
  6. rss_streams.py   daemon RSS with 16..256 streams open (no backlog)
  7. daemon_load.py   realtime streams from client processes: the default config at every
                      count from 1 to 256 (the cost curve), the energy VAD on every core and
                      Silero in one process to their limits, latency at 1/16/64/128/256,
                      CPU and RSS per stream
At the end the README's tables and docs/cost_curve.png are rewritten (readme_tables.py).
Each row carries the 1-minute load average when it was measured: the machine is shared.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import convert_speed  # noqa: E402
import daemon_load  # noqa: E402
import readme_tables  # noqa: E402
import rss_streams  # noqa: E402
import stage_cost  # noqa: E402
import startup  # noqa: E402
import vad_agreement  # noqa: E402
from common import machine  # noqa: E402

DEFAULT_VAD = "learned"  # daemon.vad's default (checked in main)
VADS = ("learned", "energy", "silero")


def _engines() -> list[str]:
    from facewire.engines.registry import load_engine

    names = ["dsp"]
    for name in ("onnx", "tensorrt"):
        try:
            load_engine(name, 30.0)
        except (ImportError, RuntimeError, OSError):
            continue
        names.insert(0, name)
    return names


def engine_table(engines: list[str], seconds: float) -> tuple[list[dict], str]:
    rows = [stage_cost.engine_split(e, n, seconds) for e in engines for n in (1, 16)]
    lines = [
        "| engine | streams | CPU s / audio s / stream | features | model | load |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        feat = r.get("features_s_per_audio_s")
        model = r.get("model_s_per_audio_s")
        lines.append(
            f"| {r['engine']} | {r['streams']} | {r['cpu_s_per_audio_s']:.4f} "
            f"| {'-' if feat is None else f'{feat:.4f}'} "
            f"| {'-' if model is None else f'{model:.4f}'} | {r['load_avg_1m']} |"
        )
    return rows, "\n".join(lines)


def latency_table(load: dict[str, list[dict]]) -> str:
    """Lookahead vs processing at 1, 16 and 64 streams, against p99 <= lookahead + 40 ms."""
    lines = [
        "| VAD, workers | streams | lookahead ms | e2e p50/p95/p99 ms | processing p50/p95/p99 ms "
        "| in-daemon p50/p99 ms | p99 <= lookahead + 40 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for vad, rows in load.items():
        for r in rows:
            if r["streams"] not in (1, 16, 64, 128, 256):
                continue
            e2e, proc, ind = r["e2e_ms"], r["processing_ms"], r["in_daemon_ms"]
            ok = e2e["p99"] is not None and e2e["p99"] <= r["lookahead_ms"] + 40
            lines.append(
                f"| {vad} | {r['streams']} | {r['lookahead_ms']} "
                f"| {daemon_load._ppp(e2e)} | {daemon_load._ppp(proc)} "
                f"| {ind['p50']}/{ind['p99']} | {'yes' if ok else 'NO'} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs, fewer stream counts")
    ap.add_argument("--engine", default="auto", help="engine of the daemon load runs")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()
    seconds = 6.0 if args.quick else 12.0
    from facewire.config import DaemonSection

    assert DaemonSection().vad == DEFAULT_VAD, "run_all.DEFAULT_VAD is not the default"
    t0 = time.monotonic()
    results: dict = {"machine": machine()}
    tables: dict[str, str] = {}
    engines = [e for e in _engines() if e != "tensorrt"]  # GPU rows: bench/engine_cost.py

    def section(name: str, text: str) -> None:
        tables[name] = text
        print(f"\n### {name}  ({time.monotonic() - t0:.0f} s)\n{text}", flush=True)

    rows, text = engine_table(engines, seconds)
    results["engine_cost"] = rows
    section("Engine alone (bench/engine_cost.py)", text)

    rows = [
        stage_cost.measure(e, vad, n, seconds)
        for e in engines
        for vad in VADS
        for n in ((1, 16, 256) if vad == DEFAULT_VAD and e == engines[0] else (1, 16))
    ]
    results["stage_cost"] = rows
    section("Per-stream stages", "\n".join([stage_cost.HEAD, *map(stage_cost.line, rows)]))

    res = vad_agreement.measure(None if not args.quick else 40)
    results["vad_agreement"] = res
    section("VAD agreement with Silero", vad_agreement.table(res["rows"], res["cost"]))

    cores = os.cpu_count() or 1
    rows = [
        startup.measure(e, 2 if args.quick else 3, w) for e in engines for w in sorted({1, cores})
    ]
    results["startup"] = rows
    section("Start to READY", "\n".join([startup.HEAD, *map(startup.line, rows)]))

    rows = [convert_speed.measure(e, 30.0 if args.quick else 60.0) for e in engines]
    results["convert"] = rows
    section("Offline convert", "\n".join([convert_speed.HEAD, *map(convert_speed.line, rows)]))

    vads = (DEFAULT_VAD, "energy")  # the default config's, and the cheapest
    rows = [convert_speed.measure_library(e, 100, 10.0, v, cores) for e in engines for v in vads]
    results["convert_library"] = rows
    text = "\n".join([convert_speed.LIBRARY_HEAD, *map(convert_speed.library_line, rows)])
    section("Offline convert, 100 files on all cores", text)

    # The default config (workers: auto, so the whole process tree), and the energy VAD.
    res = [rss_streams.measure([16, 64, 128, 256], vad, args.engine) for vad in vads]
    results["rss"] = res
    section("Memory per open stream", rss_streams.table(res))

    load_s = 8.0 if args.quick else 12.0
    load: dict = {}
    # The default config over the whole curve (every count, sustained or not); then the
    # cheapest VAD with every core, and the old default (Silero, one process), to their limits.
    runs = [
        ("default config", {}, True),
        (f"energy, workers={cores}", {"vad": "energy", "workers": cores}, False),
        ("silero, workers=1", {"vad": "silero", "workers": 1}, False),
    ]
    for key, daemon, whole_curve in runs:
        config = {"daemon": {"engine": args.engine, **daemon}}
        if whole_curve:
            found = [daemon_load.run_load(n, load_s, config) for n in daemon_load.SEARCH]
        else:
            found = daemon_load.search(load_s, config, log=lambda _line: None)
        for n in (1, 16, 64):  # the latency rows, measured even where not sustained
            if not any(r["streams"] == n for r in found):
                found.append(daemon_load.run_load(n, load_s, config))
        found.sort(key=lambda r: r["streams"])
        load[key] = found
        best = max([r["streams"] for r in found if r["sustained"]], default=0)
        section(
            f"Live streams, engine={args.engine}, {key} (max sustained: {best})",
            "\n".join([daemon_load.TABLE_HEAD, *map(daemon_load.table_line, found)]),
        )
    results["daemon_load"] = load
    section("Latency split (audio in -> frame out)", latency_table(load))
    results["tables"] = tables
    results["elapsed_s"] = round(time.monotonic() - t0, 1)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.out} in {results['elapsed_s']} s; {machine()}")
    if not args.quick and Path(args.out) == HERE / "results.json":
        readme_tables.main([])  # the README's tables and docs/cost_curve.png


if __name__ == "__main__":
    main()
