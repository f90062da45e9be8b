"""Stream capacity and tick latency of the TensorRT engine: how many live streams fit a 33 ms tick.

    python bench/gpu_bench.py [--engine tensorrt|onnx] [--streams 1,64,256,1024,2048]
        [--ticks 90] [--warmup 10] [--budget-s 240] [--json out.json]

Feeds N streams of real speech (daemon/data/example.wav, each stream starting elsewhere in
it, looped) in 33 ms chunks, one engine.process() call per tick for all N, as the pipeline
actor does, and times every call (wall clock; the call returns after the GPU is done, so the
time is the whole tick: host bookkeeping, uploads, features, model, download). Reports p50 /
p99 / max tick time per N and the largest N whose p99 stays under the 33 ms tick. Stops early
when the time budget runs out or a tick already takes 3x the budget. `--engine onnx` runs the
same loop on the CPU engine (a dry run of this script, and a baseline).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SPEECH = REPO / "daemon" / "data" / "example.wav"
TICK_S = 0.033
TICK_SAMPLES = 528  # 33 ms at 16 kHz


def make_engine(name: str, max_streams: int):
    if name == "tensorrt":
        from facewire.engines.tensorrt import TensorRTEngine

        return TensorRTEngine(fps=30.0, max_streams=max_streams)
    if name == "onnx":
        from facewire.engines.onnx import OnnxEngine

        return OnnxEngine(fps=30.0, threads=1)
    raise SystemExit(f"unknown engine {name!r}")


def measure(engine, speech: np.ndarray, streams: int, ticks: int, warmup: int) -> dict:
    """Tick times (s) of `ticks` timed ticks after `warmup` untimed ones, N streams."""
    total = (ticks + warmup) * TICK_SAMPLES
    reps = -(-(total + len(speech)) // len(speech))
    loop = np.tile(speech, reps)
    step = max(1, len(speech) // max(1, streams))
    pcms = [loop[(i * step) % len(speech) :][:total] for i in range(streams)]
    states = [engine.new_stream() for _ in range(streams)]
    times, frames = [], 0
    for k in range(ticks + warmup):
        a = k * TICK_SAMPLES
        batch = [(st, p[a : a + TICK_SAMPLES], False) for st, p in zip(states, pcms, strict=True)]
        t0 = time.perf_counter()
        out = engine.process(batch)
        dt = time.perf_counter() - t0
        if k >= warmup:
            times.append(dt)
            frames += sum(len(o) for o in out)
    engine.process([(st, np.zeros(0, dtype=np.float32), True) for st in states])  # end them
    ms = np.asarray(times) * 1000
    return {
        "streams": streams,
        "ticks": len(times),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "frames_per_s": frames / float(np.sum(times)),
        "fits_tick": bool(np.percentile(ms, 99) < TICK_S * 1000),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="tensorrt", choices=["tensorrt", "onnx"])
    ap.add_argument("--streams", default="1,64,256,1024,2048")
    ap.add_argument("--ticks", type=int, default=90, help="timed ticks per stream count")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=240.0, help="stop starting new sizes after")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.streams.split(",")})
    speech, rate = sf.read(str(SPEECH), dtype="float32")
    if rate != 16_000 or speech.ndim != 1:
        raise SystemExit(f"{SPEECH}: need 16 kHz mono, got {rate} Hz {speech.shape}")
    start = time.perf_counter()
    engine = make_engine(args.engine, max(sizes))
    setup_s = time.perf_counter() - start
    info = {
        "engine": args.engine,
        "setup_s": round(setup_s, 2),
        "machine": platform.node(),
        "python": platform.python_version(),
    }
    if args.engine == "tensorrt":
        import cupy
        import tensorrt

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"]
        info.update(
            gpu=name.decode() if isinstance(name, bytes) else str(name),
            tensorrt=tensorrt.__version__,
            cupy=cupy.__version__,
            plan=engine.plan_source,
            precision=engine.precision,
            plan_max_abs_diff=engine.plan_meta.get("max_abs_diff"),
        )
    print(" ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    rows, skipped = [], []
    for n in sizes:
        spent = time.perf_counter() - start
        too_slow = rows and rows[-1]["p50_ms"] > 3 * TICK_S * 1000
        if spent > args.budget_s or too_slow:
            skipped.append((n, "time budget spent" if spent > args.budget_s else "too slow"))
            continue
        print(f"  measuring {n} streams ...", file=sys.stderr, flush=True)
        rows.append(measure(engine, speech, n, args.ticks, args.warmup))
    print(f"\n{args.engine}: tick = {TICK_S * 1000:.0f} ms of audio per stream, one call per tick")
    print(
        f"{'streams':>8} {'ticks':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'frames/s':>10}  p99 < tick"
    )
    for r in rows:
        print(
            f"{r['streams']:>8} {r['ticks']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['max_ms']:>8.2f} {r['frames_per_s']:>10.0f}  {'yes' if r['fits_tick'] else 'no'}"
        )
    for n, why in skipped:
        print(f"{n:>8}  skipped: {why}")
    fitting = [r["streams"] for r in rows if r["fits_tick"]]
    best = max(fitting) if fitting else 0
    print(f"max streams with p99 tick < {TICK_S * 1000:.0f} ms (of sizes tried): {best}")
    if args.json:
        Path(args.json).write_text(json.dumps({**info, "rows": rows, "max_streams_fit": best}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
