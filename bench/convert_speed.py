"""Offline conversion speed of `facewire convert`, in multiples of real time.

    python bench/convert_speed.py [--engines onnx,dsp] [--seconds 60] [--json out.json]

Converts a file of real speech (the bench clips repeated to --seconds) with the installed
command: once alone (one core), then one process per core at the same time (the machine's
total throughput: convert is single-threaded, so parallel files use the other cores).
Wall time includes interpreter start and model load, as a user sees it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FACEWIRE, RATE, machine, print_rows, speech_16k, stream_audio  # noqa: E402


def _convert(paths: list[Path], engine: str, out_dir: Path) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                FACEWIRE,
                "convert",
                str(p),
                "-o",
                str(out_dir / f"{p.stem}.json"),
                "--engine",
                engine,
                "-q",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for p in paths
    ]
    for p in procs:
        if p.wait(600) != 0:
            raise RuntimeError(f"facewire convert failed ({p.returncode})")
    return time.perf_counter() - t0


def measure(engine: str, seconds: float) -> dict:
    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="fwc-"))
    speech = speech_16k()
    paths = []
    for i in range(cores):
        path = tmp / f"speech{i}.wav"
        sf.write(str(path), stream_audio(speech, i, seconds), RATE, subtype="PCM_16")
        paths.append(path)
    one = _convert(paths[:1], engine, tmp)
    many = _convert(paths, engine, tmp)
    return {
        "engine": engine,
        "audio_s_per_file": seconds,
        "x_realtime_one_process": round(seconds / one, 1),
        "processes": cores,
        "x_realtime_all_cores": round(seconds * cores / many, 1),
        "load_avg_1m": machine()["load_avg_1m"],
    }


HEAD = (
    "| engine | audio s | x real time, 1 process | x real time, all cores (processes) | load |"
    "\n|---|---|---|---|---|"
)


def line(r: dict) -> str:
    return (
        f"| {r['engine']} | {r['audio_s_per_file']:g} | {r['x_realtime_one_process']} "
        f"| {r['x_realtime_all_cores']} ({r['processes']}) | {r['load_avg_1m']} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="onnx,dsp")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    engines = args.engines.split(",")
    print_rows(HEAD, line, (measure(e, args.seconds) for e in engines), args.json)


if __name__ == "__main__":
    main()
