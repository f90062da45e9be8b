"""Offline conversion speed of `facewire convert`, in multiples of real time.

    python bench/convert_speed.py [--engines onnx,dsp] [--seconds 60] [--json out.json]
    python bench/convert_speed.py --library 100 [--seconds 10] [--vad energy] [--jobs 1,2]

Converts a file of real speech (the bench clips repeated to --seconds) with the installed
command: once alone (one core), then one process per core at the same time (the machine's
total throughput: convert is single-threaded, so parallel files use the other cores).
With --library N: one `facewire convert DIR -o OUT` of N such files (each a different part
of the speech), which converts them as streams of one pipeline, in groups per process, with
--jobs processes (default: one per core, as the command chooses). Wall time includes
interpreter start and model load, as a user sees it.
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
import yaml

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


def measure_library(engine: str, files: int, seconds: float, vad: str, jobs: int) -> dict:
    """One `facewire convert` of a folder of `files` speech files on `jobs` processes."""
    tmp = Path(tempfile.mkdtemp(prefix="fwl-"))
    src, out = tmp / "in", tmp / "out"
    src.mkdir()
    speech = speech_16k()
    for i in range(files):
        sf.write(str(src / f"s{i:04d}.wav"), stream_audio(speech, i, seconds), RATE, "PCM_16")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({"daemon": {"vad": vad}}))
    cmd = [FACEWIRE, "convert", str(src), "-o", str(out), "--engine", engine, "-q",
           "--config", str(config), "--jobs", str(jobs)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True, timeout=1800)
    wall = time.perf_counter() - t0
    written = len(list(out.glob("*.json")))
    if written != files:
        raise RuntimeError(f"convert wrote {written} of {files} files")
    return {
        "engine": engine,
        "vad": vad,
        "files": files,
        "audio_s_per_file": seconds,
        "processes": jobs,
        "wall_s": round(wall, 2),
        "x_realtime": round(files * seconds / wall, 1),
        "load_avg_1m": machine()["load_avg_1m"],
    }


LIBRARY_HEAD = (
    "| engine | VAD | files x audio s | processes | wall s | x real time | load |"
    "\n|---|---|---|---|---|---|---|"
)


def library_line(r: dict) -> str:
    return (
        f"| {r['engine']} | {r['vad']} | {r['files']} x {r['audio_s_per_file']:g} "
        f"| {r['processes']} | {r['wall_s']} | {r['x_realtime']} | {r['load_avg_1m']} |"
    )


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
    ap.add_argument("--library", type=int, help="convert a folder of this many files")
    ap.add_argument("--vad", default="learned", help="daemon.vad for --library")
    ap.add_argument("--jobs", default=str(os.cpu_count() or 1), help="--library processes")
    args = ap.parse_args()
    engines = args.engines.split(",")
    if args.library:
        rows = (
            measure_library(e, args.library, args.seconds, args.vad, int(j))
            for e in engines
            for j in args.jobs.split(",")
        )
        print_rows(LIBRARY_HEAD, library_line, rows, args.json)
        return
    print_rows(HEAD, line, (measure(e, args.seconds) for e in engines), args.json)


if __name__ == "__main__":
    main()
