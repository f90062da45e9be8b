"""CPU cost of the emotion estimator per audio second per stream, batched as the daemon runs it.

    python bench/emotion_cost.py [--streams 16 64] [--seconds 20] [--model builtin rules]

N streams of real speech arrive in 20 ms chunks; each round does what the emotion actor does:
feed every stream, take the frames the lip-sync stage has released (audio time minus its
60 ms lookahead), then the model's batched analysis (one call for every stream that is due),
as daemon/pipeline.py does. Two columns: the estimator alone (raw estimates; the target,
<= 0.001 CPU s per audio s per stream, is for this), and with A2F's post-processing
(EmotionPost, one batched step per round over every stream with frames).
"""

from __future__ import annotations

import os

# One core's numbers (the systemd unit sets OMP_NUM_THREADS=1 too): numpy's BLAS would
# otherwise spread the mel projection over every core.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RATE, print_rows, speech_16k, stream_audio  # noqa: E402

LOOKAHEAD_S = 0.06  # the lip-sync model's; frames are released this long after their audio


def measure(model_name: str, n: int, seconds: float) -> dict:
    return {
        "model": model_name,
        "streams": n,
        "estimator_cpu_s_per_audio_s": _cpu_per_audio_s(model_name, n, seconds, post=False),
        "stage_cpu_s_per_audio_s": _cpu_per_audio_s(model_name, n, seconds, post=True),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def _cpu_per_audio_s(model_name: str, n: int, seconds: float, post: bool) -> float:
    import numpy as np

    from facewire.engines.emotion import EmotionPost
    from facewire.engines.emotion_model import load_emotion_model
    from facewire.engines.params import StreamParams

    model = load_emotion_model(model_name)
    speech = speech_16k()
    pcms = [stream_audio(speech, i, seconds) for i in range(n)]
    streams = [model.new_stream(30.0) for _ in range(n)]
    pp = EmotionPost(30.0)
    for slot in range(n):
        pp.open(slot, StreamParams.defaults())
    done = [0] * n
    step = RATE * 20 // 1000
    c0 = time.process_time()
    for pos in range(0, len(pcms[0]), step):
        slots, counts, raws = [], [], []
        for i, (est, pcm) in enumerate(zip(streams, pcms, strict=True)):
            est.push(pcm[pos : pos + step])
            due = int(((pos + step) / RATE - LOOKAHEAD_S) * 30.0) - done[i]
            if due > 0:
                raws.append(est.pop(due))
                slots.append(i)
                counts.append(due)
                done[i] += due
        if post and slots:
            pp.step(np.array(slots), np.array(counts), np.concatenate(raws))
        model.analyse(streams)
    return round((time.process_time() - c0) / (n * seconds), 6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--model", nargs="+", default=["builtin", "rules"])
    ap.add_argument("--json", help="also write the rows (with the machine) here")
    args = ap.parse_args()
    rows = (measure(m, n, args.seconds) for m in args.model for n in args.streams)
    print_rows(
        "| model | streams | estimator CPU s per audio s per stream | with post-processing "
        "| load avg |\n|---|---|---|---|---|",
        lambda r: (
            f"| {r['model']} | {r['streams']} | {r['estimator_cpu_s_per_audio_s']:.5f} "
            f"| {r['stage_cpu_s_per_audio_s']:.5f} | {r['load_avg_1m']} |"
        ),
        rows,
        args.json,
    )


if __name__ == "__main__":
    main()
