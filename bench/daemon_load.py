"""Realtime capacity, latency, CPU and RSS of the daemon under N live streams.

    python bench/daemon_load.py [--engine auto] [--vad learned] [--workers auto]
        [--streams 1,16,64] [--seconds 15] [--search] [--json out.json]

For each N: a fresh `facewire run` (ipc endpoints), a receiver process subscribed to every
stream, and a sender process pushing N streams of real speech at real time in 20 ms chunks
(bench/loadgen.py). Per frame k (t = k/fps) of a stream, with L = StreamStarted.lookahead_ms:
  e2e        = publish_ns - the time the chunk holding t left the client
  processing = publish_ns - the time the chunk holding t + L left the client
               (what remains once the engine's algorithmic lookahead is paid: queueing,
               batching, compute, VAD chunking)
  in_daemon  = publish_ns - audio_arrival_ns (the daemon's own stamps)
A frame meets its deadline when processing <= 40 ms; a missing frame misses it. N streams
are sustained when >= 99 % of frames meet the deadline, no chunk was dropped and every
stream ended normally. `--search` raises N (1, 4, 8, 12, 16, 24, 32, 48, 64, ... 256) until one
fails. CPU is the daemon's user+system time over the streaming window; RSS is sampled
every 0.2 s. Past capacity the daemon drops audio that waited over 1 s (`stale_dropped`,
facewire.actor.AUDIO_MAX_AGE_S), so in_daemon stays near 1 s; e2e and processing map frame
k to chunk k/fps and are only meaningful while nothing was dropped.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RATE, DaemonProc, machine, percentiles  # noqa: E402

LOADGEN = str(Path(__file__).resolve().parent / "loadgen.py")
DEADLINE_MS = 40.0
OVERRUN_S = 15.0  # after the audio ends, frames have this long to arrive (else missing)
SEARCH = (1, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start_receiver(pub: str, common: list[str], out: Path, seconds: float) -> subprocess.Popen:
    """The subscriber client process (loadgen.py recv), started and subscribed."""
    recv = subprocess.Popen(
        [sys.executable, LOADGEN, "recv", "--pub", pub, *common, "--out", str(out),
         "--timeout", str(seconds + OVERRUN_S)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    if recv.stdout.readline().strip() != "ready":
        raise RuntimeError("receiver did not subscribe")
    return recv


def sender_argv(common: list[str], seconds: float, out: Path, chunk_ms: int = 20) -> list[str]:
    """The realtime sender client process (loadgen.py send)."""
    return [sys.executable, LOADGEN, "send", *common, "--seconds", str(seconds),
            "--chunk-ms", str(chunk_ms), "--out", str(out)]  # fmt: skip


def run_load(n: int, seconds: float, config: dict, chunk_ms: int = 20) -> dict:
    """One fresh daemon, N realtime streams from separate client processes; metrics."""
    tmp = Path(tempfile.mkdtemp(prefix="fwl-"))
    recv_out, send_out = tmp / "recv.npz", tmp / "send.npz"
    load_before = machine()["load_avg_1m"]
    with DaemonProc(config) as d:
        time.sleep(0.5)  # let the daemon settle before the idle reading
        rss_idle = d.rss_mb()
        common = ["--ingest", d.ingest, "--streams", str(n)]
        recv = start_receiver(d.pub, common, recv_out, seconds)
        children0 = _children_cpu_s()
        cpu0, wall0 = d.cpu_s(), time.perf_counter()
        send = subprocess.Popen(sender_argv(common, seconds, send_out, chunk_ms))
        rss_peak = rss_idle
        while send.poll() is None:
            rss_peak = max(rss_peak, d.rss_mb())
            time.sleep(0.2)
        cpu1, wall = d.cpu_s(), time.perf_counter() - wall0
        recv.wait(seconds + OVERRUN_S + 30)
        clients_cpu = _children_cpu_s() - children0
        from facewire.client import Control

        counters = {
            name: a["counters"] for name, a in Control(d.control).status()["actors"].items()
        }
    r, s = np.load(recv_out), np.load(send_out)
    row = analyse(n, seconds, r, s)
    row.update(
        {
            "daemon_cpu_cores": round((cpu1 - cpu0) / wall, 3),
            "daemon_cpu_s_per_audio_s_per_stream": round((cpu1 - cpu0) / (n * seconds), 5),
            "clients_cpu_cores": round(clients_cpu / wall, 3),
            "rss_idle_mb": round(rss_idle, 1),
            "rss_peak_mb": round(rss_peak, 1),
            "rss_mb_per_stream": round((rss_peak - rss_idle) / n, 3),
            "ingest_dropped": int(counters.get("ingest", {}).get("dropped_audio", 0)),
            # Chunks dropped for waiting over facewire.actor.AUDIO_MAX_AGE_S (overload).
            "stale_dropped": int(counters.get("ingest", {}).get("dropped_stale_audio", 0)),
            "sender_max_lag_ms": round(float(s["lag_ms"].max()), 1),
            "load_avg_1m_before": load_before,
            "load_avg_1m_after": machine()["load_avg_1m"],
        }
    )
    row["sustained"] = bool(
        row["deadline_met"] >= 0.99
        and row["missing_frames"] == 0
        and row["ingest_dropped"] == 0
        and row["stale_dropped"] == 0
        and row["ended_normally"] == n
    )
    return row


def analyse(n: int, seconds: float, r, s) -> dict:
    """Latencies and deadline hits from the receiver's and sender's records."""
    fps, look_ms = float(r["fps"]), float(r["lookahead_ms"])
    step, samples = int(s["step"]), int(s["samples"])
    sent = s["sent_ns"]
    chunks = sent.shape[1]
    expected = math.ceil(samples * fps / RATE - 1e-9)
    stream, seq = r["stream"], r["seq"]
    t = seq / fps
    c0 = np.minimum((t * RATE // step).astype(np.int64), chunks - 1)
    cl = np.minimum(((t + look_ms / 1000) * RATE // step).astype(np.int64), chunks - 1)
    pub = r["publish_ns"]
    e2e = (pub - sent[stream, c0]) / 1e6
    proc = (pub - sent[stream, cl]) / 1e6
    in_daemon = (pub - r["arrival_ns"]) / 1e6
    to_sub = (r["recv_ns"] - pub) / 1e6
    met = int((proc <= DEADLINE_MS).sum())
    ended_normally = int((r["ended_reason"] == "closed").sum()) if len(r["ended_reason"]) else 0
    return {
        "streams": n,
        "audio_s_per_stream": seconds,
        "fps": fps,
        "lookahead_ms": round(look_ms, 1),
        "frames_expected": expected * n,
        "frames_received": int(len(seq)),
        "missing_frames": int(expected * n - len(seq)),
        "deadline_met": round(met / (expected * n), 4),
        "e2e_ms": percentiles(e2e),
        "processing_ms": percentiles(proc),
        "in_daemon_ms": percentiles(in_daemon),
        "publish_to_subscriber_ms": percentiles(to_sub),
        "ended_normally": ended_normally,
        "dropped_chunks_reported": int(r["ended_dropped"].sum()),
    }


def search(seconds: float, config: dict, streams=SEARCH, log=print) -> list[dict]:
    """Rows for increasing N until the first N that is not sustained (that row included)."""
    rows = []
    for n in streams:
        row = run_load(n, seconds, config)
        log(table_line(row))
        rows.append(row)
        if not row["sustained"]:
            break
    return rows


TABLE_HEAD = (
    "| streams | sustained | deadline met | e2e p50/p95/p99 ms | processing p50/p95/p99 ms "
    "| in-daemon p99 ms | daemon CPU (cores) | CPU s / audio s / stream | RSS MB (idle/peak) "
    "| load avg |\n|---|---|---|---|---|---|---|---|---|---|"
)


def _ppp(p: dict) -> str:
    return "/".join("-" if p[k] is None else f"{p[k]:.0f}" for k in ("p50", "p95", "p99"))


def table_line(r: dict) -> str:
    return (
        f"| {r['streams']} | {'yes' if r['sustained'] else 'NO'} | {r['deadline_met']:.2%} "
        f"| {_ppp(r['e2e_ms'])} | {_ppp(r['processing_ms'])} | {r['in_daemon_ms']['p99']} "
        f"| {r['daemon_cpu_cores']} | {r['daemon_cpu_s_per_audio_s_per_stream']:.4f} "
        f"| {r['rss_idle_mb']:.0f}/{r['rss_peak_mb']:.0f} "
        f"| {r['load_avg_1m_before']}->{r['load_avg_1m_after']} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--vad", default="learned", help="daemon.vad (default: the default's)")
    ap.add_argument("--workers", default="auto", help="daemon.workers: auto or a count")
    ap.add_argument("--streams", default="1,16,64")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--search", action="store_true", help="raise N until one fails")
    ap.add_argument("--json")
    args = ap.parse_args()
    config = {
        "daemon": {
            "engine": args.engine,
            "vad": args.vad,
            "workers": args.workers,
            "max_streams_per_client": 64,
        }
    }
    print(f"engine={args.engine} vad={args.vad} workers={args.workers} {machine()}")
    print(TABLE_HEAD)
    if args.search:
        rows = search(args.seconds, config)
    else:
        rows = []
        for n in args.streams.split(","):
            rows.append(run_load(int(n), args.seconds, config))
            print(table_line(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
