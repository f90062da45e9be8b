"""Where a live stream's CPU goes: every per-stream stage, one thread, no sockets.

    python bench/stage_cost.py [--streams 1,16] [--seconds 12] [--json out.json]

Runs the daemon's own Pipeline (daemon/pipeline.py, with each VAD) and the AnimationFrame
protobuf the publish actor builds per frame over N streams of real speech in 20 ms chunks,
one tick per chunk as the pipeline actor makes, and reports CPU seconds per audio second per
stream for each stage: engine (feeding, the batched engine call and the rest of the tick),
VAD (the same detectors run alone, and taken out of the engine column), emotion (estimator
and the batched post-processing, EmotionPost), face (FaceRig) and protobuf. The engine's
features/model split comes from bench/engine_cost.py (reused, not duplicated). Socket and
actor overhead is what bench/daemon_load.py measures on top.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RATE, machine, print_rows, speech_16k, stream_audio  # noqa: E402

STAGES = ("engine", "vad", "emotion", "face", "publish_pb")


def _cpu() -> float:
    return time.process_time()


def _timed(fn, cost: dict, stage: str):
    """`fn`, with its CPU time added to cost[stage]."""

    def wrapper(*args, **kwargs):
        c0 = _cpu()
        try:
            return fn(*args, **kwargs)
        finally:
            cost[stage] += _cpu() - c0

    return wrapper


def measure(engine_name: str, vad: str, n: int, seconds: float) -> dict:
    """CPU s per audio s per stream of each stage for N streams."""
    from facewire.engines.emotion_model import load_emotion_model
    from facewire.engines.registry import load_engine
    from facewire.engines.vad import make_vad
    from facewire.engines.vad_learned import score_all
    from facewire.pipeline import Pipeline
    from facewire.proto import facewire_pb2 as pb
    from facewire.wire import encode

    engine = load_engine(engine_name, 30.0, 1)
    speech = speech_16k()
    pcms = [stream_audio(speech, i, seconds) for i in range(n)]
    sids = [f"s{i}" for i in range(n)]
    pipe = Pipeline(engine, load_emotion_model(), vad=vad)
    cost = dict.fromkeys(STAGES, 0.0)
    inner = {"emotion": 0.0, "face": 0.0}  # timed inside the tick, taken out of engine
    pipe.post.step = _timed(pipe.post.step, inner, "emotion")
    pipe.face.step = _timed(pipe.face.step, inner, "face")
    for sid in sids:
        pipe.open(sid, RATE, {})
        est = pipe._streams[sid].estimator  # the estimator's share of the tick: emotion
        est.pop = _timed(est.pop, inner, "emotion")
    vads = {sid: make_vad(vad, engine.fps) for sid in sids}  # timed alone, below
    frames = 0
    step = RATE * 20 // 1000
    for pos in range(0, len(pcms[0]), step):
        c0 = _cpu()
        for sid, pcm in zip(sids, pcms, strict=True):
            vads[sid].push(pcm[pos : pos + step])
        score_all(list(vads.values()))  # the learned VAD batches, as the pipeline's tick does
        for sid in sids:
            vads[sid].take()
        c1 = _cpu()
        before = dict(inner)
        for sid, pcm in zip(sids, pcms, strict=True):
            pipe.feed(sid, pcm[pos : pos + step])
        outs = pipe.tick()
        c2 = _cpu()
        pipe.analyse()  # the actor's batched analysis, after the frames
        c3 = _cpu()
        for o in outs:
            w, e, raw = o.weights, o.emotions, o.emotions_raw
            for k in range(len(w)):
                frame = pb.AnimationFrame(
                    stream_id=o.stream,
                    seq=o.first + k,
                    timecode=(o.first + k) / engine.fps,
                    weights=w[k].tolist(),
                    emotions=e[k].tolist(),
                    emotions_raw=raw[k].tolist(),
                    speaking=bool(o.speaking[k]),
                    audio_arrival_ns=time.time_ns(),
                    publish_ns=time.time_ns(),
                )
                encode(animation_frame=frame)
            frames += len(w)
        c4 = _cpu()
        spent = {k: inner[k] - before[k] for k in inner}
        cost["vad"] += c1 - c0
        # The pipeline runs the VAD too, and the emotion and face work: take them out.
        cost["engine"] += (c2 - c1) - (c1 - c0) - spent["emotion"] - spent["face"]
        cost["emotion"] += spent["emotion"] + (c3 - c2)
        cost["face"] += spent["face"]
        cost["publish_pb"] += c4 - c3
    audio_s = n * seconds
    row = {
        "engine": engine_name,
        "vad": vad,
        "streams": n,
        **{f"{k}_cpu_s_per_audio_s": round(v / audio_s, 5) for k, v in cost.items()},
        "total_cpu_s_per_audio_s": round(sum(cost.values()) / audio_s, 5),
        "publish_pb_us_per_frame": round(cost["publish_pb"] / max(frames, 1) * 1e6, 1),
        "load_avg_1m": machine()["load_avg_1m"],
    }
    row["vad_share"] = round(
        row["vad_cpu_s_per_audio_s"] / max(row["total_cpu_s_per_audio_s"], 1e-9), 3
    )
    return row


def engine_split(engine_name: str, n: int, seconds: float) -> dict:
    """Features/model split of the engine alone, from bench/engine_cost.py."""
    from engine_cost import measure as engine_measure

    row = engine_measure(engine_name, n, seconds, 20.0)
    row["load_avg_1m"] = machine()["load_avg_1m"]
    return row


HEAD = (
    "| engine | VAD | streams | engine | VAD | emotion | face | publish protobuf | total "
    "| VAD share | protobuf µs/frame | load |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def line(r: dict) -> str:
    return (
        f"| {r['engine']} | {r['vad']} | {r['streams']} | {r['engine_cpu_s_per_audio_s']:.4f} "
        f"| {r['vad_cpu_s_per_audio_s']:.4f} | {r['emotion_cpu_s_per_audio_s']:.4f} "
        f"| {r['face_cpu_s_per_audio_s']:.4f} | {r['publish_pb_cpu_s_per_audio_s']:.4f} "
        f"| {r['total_cpu_s_per_audio_s']:.4f} | {r['vad_share']:.0%} "
        f"| {r['publish_pb_us_per_frame']} | {r['load_avg_1m']} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="onnx,dsp")
    ap.add_argument("--streams", default="1,16")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--vads", default="learned,energy,silero")
    ap.add_argument("--json")
    args = ap.parse_args()
    runs = (
        measure(eng, vad, int(n), args.seconds)
        for eng in args.engines.split(",")
        for vad in args.vads.split(",")
        for n in args.streams.split(",")
    )
    print_rows(HEAD, line, runs, args.json)


if __name__ == "__main__":
    main()
