"""Score an emotion estimator on acted speech, streamed as the daemon's pipeline streams it.

    python -m training.emotion_eval --model builtin            # ravdess-dev, Claire
    python -m training.emotion_eval --model rules              # the hand-set rules
    python -m training.emotion_eval --model my.onnx --set ravdess --speakers 09,10,...
    python -m training.emotion_eval --model dev.onnx --set emodb --speakers 03,08

The audio goes through the model's estimators and its batched `analyse` in 0.1 s chunks, the
calls daemon/pipeline.py makes, with every clip (or session) a stream of one batch, so the scores
are of what ships. Clip level: the top class of the mean raw estimate (the ten classes,
before A2F's post-processing) over the clip's frames. Two ways of listening:
- clips: every clip its own stream, from a cold start;
- sessions: each speaker's clips, shuffled with a fixed seed, joined with 0.4 s of quiet
  into one stream, each clip scored over its own span.
Measures: UAR over anger, joy, sadness, fear, disgust (chance 0.2); arousal AUC of the clip's
emotion mass (sum of the ten), angry/happy/fearful/surprised against neutral/calm; the mean
mass per label; calibration (reliability table and ECE of the top class's share of the mean
vector, over the five classes' clips); Claire's clips: the top two classes of each.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from facewire.arkit import EMOTION_INDEX, EMOTION_NAMES
from facewire.engines.emotion_model import load_emotion_model
from training.emotion_data import SPEECH, Clip, list_clips, read16k

FPS = 30.0
CHUNK = 1600  # 0.1 s
GAP_S = 0.4
FIVE = ("anger", "joy", "sadness", "fear", "disgust")
AROUSED = ("anger", "joy", "fear", "surprised")
CALM = ("neutral", "calm")


def run_streams(model, signals: list[np.ndarray]) -> list[np.ndarray]:
    """Raw estimates (frames, 10) of each signal, all streamed together as the pipeline does."""
    streams = [model.new_stream(FPS) for _ in signals]
    out: list[list[np.ndarray]] = [[] for _ in signals]
    longest = max(len(s) for s in signals)
    for pos in range(0, longest, CHUNK):
        live = []
        for i, (est, sig) in enumerate(zip(streams, signals, strict=True)):
            if pos >= len(sig):
                continue
            est.push(sig[pos : pos + CHUNK])
            if pos + CHUNK >= len(sig):
                est.finish()
            if est.ready():
                out[i].append(est.pop(est.ready()))
            live.append(est)
        if live:
            model.analyse(live)
    return [np.concatenate(rows) for rows in out]


def clip_means(model, clips: list[Clip], sessions: bool, seed: int = 0) -> list[np.ndarray]:
    """The mean raw vector (10,) of each clip, listened to as clips or as sessions."""
    audio = [read16k(c.path) for c in clips]
    if not sessions:
        return [r.mean(0) for r in run_streams(model, audio)]
    by_speaker = defaultdict(list)
    for i, c in enumerate(clips):
        by_speaker[c.speaker].append(i)
    rng = np.random.default_rng(seed)
    signals, spans = [], []
    gap = np.zeros(int(GAP_S * 16_000), np.float32)
    for spk in sorted(by_speaker):
        order = list(rng.permutation(by_speaker[spk]))
        parts, pos, spk_spans = [], 0, []
        for i in order:
            spk_spans.append((i, pos, pos + len(audio[i])))
            parts += [audio[i], gap]
            pos += len(audio[i]) + len(gap)
        signals.append(np.concatenate(parts))
        spans.append(spk_spans)
    means: list[np.ndarray] = [np.zeros(0)] * len(clips)
    for raw, spk_spans in zip(run_streams(model, signals), spans, strict=True):
        for i, a, b in spk_spans:
            fa, fb = int(np.ceil(a / 16_000 * FPS)), int(np.ceil(b / 16_000 * FPS))
            means[i] = raw[fa:fb].mean(0)
    return means


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting half."""
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def score(clips: list[Clip], means: list[np.ndarray]) -> dict:
    labels = [c.label for c in clips]
    m = np.stack(means)
    mass = m.sum(1)
    top = m.argmax(1)
    five = [i for i, lab in enumerate(labels) if lab in FIVE]
    recalls = {}
    for cls in FIVE:
        idx = [i for i in five if labels[i] == cls]
        if idx:
            recalls[cls] = float(np.mean(top[idx] == EMOTION_INDEX[cls]))
    out: dict = {"clips": len(clips), "recall": recalls}
    out["uar5"] = float(np.mean(list(recalls.values()))) if recalls else None
    pos = np.array([mass[i] for i, lab in enumerate(labels) if lab in AROUSED])
    neg = np.array([mass[i] for i, lab in enumerate(labels) if lab in CALM])
    out["arousal_auc"] = auc(pos, neg) if len(pos) and len(neg) else None
    by_label = defaultdict(list)
    for i, lab in enumerate(labels):
        by_label[lab].append(mass[i])
    out["mass"] = {lab: float(np.mean(v)) for lab, v in sorted(by_label.items())}
    calm = [v for k, v in out["mass"].items() if k in CALM]
    other = [v for k, v in out["mass"].items() if k not in CALM]
    out["calm_least_mass"] = bool(calm and other and max(calm) < min(other))
    out["calibration"] = calibration(m[five], [labels[i] for i in five])
    return out


def calibration(m: np.ndarray, labels: list[str], bins: int = 5) -> dict:
    """Reliability of the top class's share of the clip's mean vector: per confidence bin the
    clip count, mean confidence and accuracy, and the expected calibration error."""
    if not len(m):
        return {}
    conf = m.max(1)
    right = m.argmax(1) == np.array([EMOTION_INDEX[lab] for lab in labels])
    edges = np.linspace(0, 1, bins + 1)
    table, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf >= lo) & ((conf < hi) | (hi == 1.0))
        if sel.any():
            table.append({"bin": f"{lo:.1f}-{hi:.1f}", "clips": int(sel.sum()),
                          "confidence": float(conf[sel].mean()),
                          "accuracy": float(right[sel].mean())})  # fmt: skip
            ece += sel.mean() * abs(conf[sel].mean() - right[sel].mean())
    return {"ece": float(ece), "table": table}


def claire(model) -> dict:
    folder = SPEECH / "emotion"
    names = sorted(p for p in folder.glob("Claire_*.wav"))
    raws = run_streams(model, [read16k(p) for p in names])
    out = {}
    for p, raw in zip(names, raws, strict=True):
        mean = raw.mean(0)
        order = np.argsort(-mean)[:2]
        out[p.stem.split("_", 1)[1]] = {
            "top2": [EMOTION_NAMES[j] for j in order],
            "top2_values": [round(float(mean[j]), 3) for j in order],
            "mass": round(float(mean.sum()), 3),
        }
    ok = [k for k in ("anger", "sadness") if k in out]
    out["anger_sadness_in_top2"] = all(k in out[k]["top2"] for k in ok)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="builtin", help="builtin | rules | PATH.onnx")
    ap.add_argument("--set", choices=("ravdess", "emodb"), default="ravdess")
    ap.add_argument("--speakers", default="", help="comma-separated speaker ids (default all)")
    ap.add_argument("--json", help="write the scores here too")
    args = ap.parse_args(argv)
    model = load_emotion_model(args.model)
    folder = {"ravdess": "ravdess-dev", "emodb": "emodb"}[args.set]
    clips = list_clips(SPEECH / folder, args.set)
    if args.speakers:
        keep = {f"{args.set}:{s}" for s in args.speakers.split(",")}
        clips = [c for c in clips if c.speaker in keep]
    result: dict = {"model": args.model, "set": folder, "speakers": args.speakers or "all"}
    for mode in ("clips", "sessions"):
        result[mode] = score(clips, clip_means(model, clips, sessions=mode == "sessions"))
    result["claire"] = claire(model)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    for mode in ("clips", "sessions"):
        r = result[mode]
        ece = r["calibration"].get("ece", float("nan"))
        print(f"{mode:9s} UAR5 {r['uar5']:.3f}  arousal AUC {r['arousal_auc'] or float('nan'):.3f}"
              f"  calm least mass {r['calm_least_mass']}  ECE {ece:.3f}")  # fmt: skip
    print("claire", {k: v["top2"] for k, v in result["claire"].items() if isinstance(v, dict)})


if __name__ == "__main__":
    main()
