"""Time from `facewire run` to sd_notify READY=1, and the idle daemon's RSS.

    python bench/startup.py [--engines onnx,dsp] [--runs 3] [--workers 1,2] [--json out.json]

READY is sent only once every socket is bound and the engine is loaded, so this is the time
a systemd unit (Type=notify) waits before dependants start. Measured from process spawn
(interpreter start and imports included) with a private NOTIFY_SOCKET.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DaemonProc, machine, print_rows  # noqa: E402


def measure(engine: str, runs: int, workers: int = 1) -> dict:
    ready, rss, idle = [], [], []
    for _ in range(runs):
        with DaemonProc({"daemon": {"engine": engine, "workers": workers}}) as d:
            ready.append(d.ready_s)
            time.sleep(0.5)
            cpu0 = d.cpu_s()
            time.sleep(2.0)  # idle: actor loops polling, no streams
            idle.append((d.cpu_s() - cpu0) / 2.0)
            rss.append(d.rss_mb())
    return {
        "engine": engine,
        "workers": workers,
        "runs": runs,
        "ready_s_median": round(statistics.median(ready), 3),
        "ready_s_max": round(max(ready), 3),
        "rss_idle_mb": round(statistics.median(rss), 1),
        "idle_cpu_cores": round(statistics.median(idle), 3),
        "load_avg_1m": machine()["load_avg_1m"],
    }


HEAD = (
    "| engine | workers | READY median s | READY max s | idle RSS MB | idle CPU (cores) | load |"
    "\n|---|---|---|---|---|---|---|"
)


def line(r: dict) -> str:
    return (
        f"| {r['engine']} | {r['workers']} | {r['ready_s_median']} | {r['ready_s_max']} "
        f"| {r['rss_idle_mb']} | {r['idle_cpu_cores']} | {r['load_avg_1m']} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="onnx,dsp")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1", help="daemon.workers values, comma-separated")
    ap.add_argument("--json")
    args = ap.parse_args()
    engines = args.engines.split(",")
    workers = [int(w) for w in args.workers.split(",")]
    rows = (measure(e, args.runs, w) for e in engines for w in workers)
    print_rows(HEAD, line, rows, args.json)


if __name__ == "__main__":
    main()
