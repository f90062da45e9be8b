"""Where a live stream's CPU goes: every per-stream stage, one thread, no sockets.

    python bench/stage_cost.py [--streams 1,16] [--seconds 12] [--json out.json]

Runs the daemon's own stage objects (LipsyncBatch with each VAD, EmotionStage,
FaceAnimator, the AnimationFrame protobuf the publish actor builds per frame) over N streams
of real speech in 20 ms chunks, one batched engine call per chunk as the inference actor
makes, and reports CPU seconds per audio second per stream for each stage. The engine's
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


def measure(engine_name: str, vad: str, n: int, seconds: float) -> dict:
    """CPU s per audio s per stream of each stage for N streams."""
    from facewire.engines.emotion_model import load_emotion_model
    from facewire.engines.face import FaceAnimator
    from facewire.engines.registry import load_engine
    from facewire.engines.vad import make_vad
    from facewire.proto import facewire_pb2 as pb
    from facewire.stages import EmotionStage, LipsyncBatch, params_from
    from facewire.wire import encode

    engine = load_engine(engine_name, 30.0, 1)
    speech = speech_16k()
    pcms = [stream_audio(speech, i, seconds) for i in range(n)]
    sids = [f"s{i}" for i in range(n)]
    batch = LipsyncBatch(engine, vad)
    params = params_from({})
    emotion_model = load_emotion_model()
    emotion = {sid: EmotionStage(params, engine.fps, emotion_model) for sid in sids}
    face = {sid: FaceAnimator(params, engine.fps, i) for i, sid in enumerate(sids)}
    vads = {sid: make_vad(vad, engine.fps) for sid in sids}  # timed alone, below
    for sid in sids:
        batch.open(sid)
    cost = dict.fromkeys(STAGES, 0.0)
    frames = 0
    step = RATE * 20 // 1000
    for pos in range(0, len(pcms[0]), step):
        c0 = _cpu()
        for sid, pcm in zip(sids, pcms, strict=True):
            vads[sid].push(pcm[pos : pos + step])
            vads[sid].take()
        c1 = _cpu()
        for sid, pcm in zip(sids, pcms, strict=True):
            batch.feed(sid, pcm[pos : pos + step])
        outs = batch.run()
        c2 = _cpu()
        for sid, pcm in zip(sids, pcms, strict=True):
            emotion[sid].feed(pcm[pos : pos + step])
        emo = {sid: emotion[sid].frames(o.first, len(o.lipsync)) for sid, o in outs.items()}
        EmotionStage.catch_up_all(list(emotion.values()))  # the actor's batched analysis
        c3 = _cpu()
        weights = {
            sid: face[sid].step(o.lipsync, emo[sid][0], o.speaking, o.first)
            for sid, o in outs.items()
        }
        c4 = _cpu()
        for sid, o in outs.items():
            w, (e, raw) = weights[sid], emo[sid]
            for k in range(len(w)):
                frame = pb.AnimationFrame(
                    stream_id=sid,
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
        c5 = _cpu()
        cost["vad"] += c1 - c0
        cost["engine"] += (c2 - c1) - (c1 - c0)  # LipsyncBatch runs the VAD too: take it out
        cost["emotion"] += c3 - c2
        cost["face"] += c4 - c3
        cost["publish_pb"] += c5 - c4
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
    ap.add_argument("--json")
    args = ap.parse_args()
    runs = (
        measure(eng, vad, int(n), args.seconds)
        for eng in args.engines.split(",")
        for vad in ("silero", "energy")
        for n in args.streams.split(",")
    )
    print_rows(HEAD, line, runs, args.json)


if __name__ == "__main__":
    main()
