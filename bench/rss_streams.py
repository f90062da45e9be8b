"""Daemon memory per open stream (RSS), measured without overload.

    python bench/rss_streams.py [--steps 16,64,128] [--vad learned] [--json out.json]

Opens streams in steps, gives each new stream one second of speech (unpaced), waits until
the daemon has published all of its frames, then reads the daemon's RSS: each open stream's
state (resampler, feature windows, model state, VAD, emotion and face state) without any
backlog in the queues. The streams stay open, so the growth per step is memory per stream.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RATE, DaemonProc, machine, speech_16k, stream_audio  # noqa: E402

from facewire.client import Client, Control  # noqa: E402

FRAMES_PER_STREAM = 30  # one second at 30 fps


def measure(steps: list[int], vad: str, engine: str = "auto") -> dict:
    speech = speech_16k()
    rows = []
    with DaemonProc(
        {
            "daemon": {
                "engine": engine,
                "vad": vad,
                "max_streams": 1000,
                "max_streams_per_client": 1000,
                "stream_timeout_s": 600,
            }
        }
    ) as d:
        ctl = Control(d.control)
        time.sleep(0.5)
        rows.append({"streams": 0, "rss_mb": round(d.rss_mb(), 1)})
        with Client(d.ingest, timeout_s=30) as c:
            opened = 0
            for target in steps:
                for i in range(opened, target):
                    pcm = (stream_audio(speech, i, 1.0) * 32767).astype("<i2")
                    c.open_stream(f"rss{i}", RATE)
                    for k, pos in enumerate(range(0, len(pcm), 320)):
                        c.send_audio(f"rss{i}", k, pcm[pos : pos + 320])
                opened = target
                deadline = time.monotonic() + 120
                while True:  # every open stream has published (almost) its second of frames
                    streams = ctl.status()["streams"]
                    done = sum(
                        v >= FRAMES_PER_STREAM - 3
                        for k, v in streams.items()
                        if k.startswith("rss")
                    )
                    if done >= target or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                rows.append({"streams": target, "rss_mb": round(d.rss_mb(), 1)})
    base = rows[0]["rss_mb"]
    for prev, r in zip(rows, rows[1:], strict=False):
        r["mb_per_stream"] = round((r["rss_mb"] - base) / r["streams"], 3)
        r["mb_per_added_stream"] = round(
            (r["rss_mb"] - prev["rss_mb"]) / (r["streams"] - prev["streams"]), 3
        )
    return {"vad": vad, "engine": engine, "rows": rows, "load_avg_1m": machine()["load_avg_1m"]}


def table(results: list[dict]) -> str:
    lines = [
        "| VAD | open streams | RSS MB | MB per stream (vs idle) | MB per added stream | load |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        for r in res["rows"]:
            per = r.get("mb_per_stream", "-")
            added = r.get("mb_per_added_stream", "-")
            lines.append(
                f"| {res['vad']} | {r['streams']} | {r['rss_mb']} | {per} | {added} "
                f"| {res['load_avg_1m']} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", default="16,64,128")
    ap.add_argument("--vads", default="learned,energy,silero")
    ap.add_argument("--json")
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    results = [measure(steps, vad) for vad in args.vads.split(",")]
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results}))


if __name__ == "__main__":
    main()
