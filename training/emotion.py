"""Train the emotion network (engines/emotion_model.py) and export it to ONNX.

    python -m training.emotion --out engines/models/emotion.onnx           # the shipped weights
    python -m training.emotion --data DIR --layout crema-d --out my.onnx   # your own corpus

With no --data the run uses the corpora whose licences allow shipped weights: EmoDB (CC0)
and LibriSpeech (CC BY 4.0, as neutral read speech) from ../shared/data/speech. --data/--layout
pairs repeat (layouts: training/emotion_data.py); --holdout names speakers kept out of
training and scored at the end (clip level, UAR over the classes present). One thread, fixed
seeds: the same command gives the same bytes.

The network sees WINDOW_HOPS hops (1.6 s) of normalised features: two 1-D convolutions, a
mean and standard-deviation pooling over the speech hops, and a small classifier over
neutral + the learned classes. Training windows are normalised the two ways a stream sees
them: cold (the baseline so far is the clip's own opening) or warm (the speaker's baseline
over many clips), so one network serves a fresh stream and a long one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from facewire.engines import emotion_features as ef
from facewire.engines.emotion_model import FORMAT, MIN_ACTIVE, UPDATE_HOPS, WINDOW_HOPS
from training.emotion_data import CACHE, SPEECH, Clip, features, list_clips

CLASSES = ("neutral", "anger", "joy", "sadness", "fear", "disgust")
PRIOR_HOPS = 375.0  # the prior weighs as 15 s of speech
WIDTH = 48


def build_net(n_classes: int, width: int = WIDTH):
    import torch
    from torch import nn

    class EmotionNet(nn.Module):
        """(B, T, F) normalised features -> (B, C) logits. Rows that are all zero are not
        speech (ef.normalise) and are left out of the pooling."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv1d(ef.N_FEATURES, width, 5, padding=2)
            self.conv2 = nn.Conv1d(width, width, 5, padding=4, dilation=2)
            self.head = nn.Sequential(
                nn.Linear(2 * width + 1, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, n_classes)
            )

        def forward(self, x):
            mask = (x.abs().sum(-1, keepdim=True) > 0).float()  # (B, T, 1)
            h = torch.relu(self.conv1(x.transpose(1, 2)))
            h = torch.relu(self.conv2(h)).transpose(1, 2)  # (B, T, W)
            n = mask.sum(1).clamp(min=1.0)
            mean = (h * mask).sum(1) / n
            var = (((h - mean[:, None]) ** 2) * mask).sum(1) / n
            share = mask.mean(1)
            return self.head(torch.cat([mean, torch.sqrt(var + 1e-4), share], dim=1))

    return EmotionNet()


class Corpus:
    """Cached features of every clip (clean + augmented copies), speaker sums, the prior."""

    def __init__(self, clips: list[Clip], copies: int, cache: Path = CACHE) -> None:
        self.clips = clips
        self.feats = []  # per clip: list of (n, F) float64, copy 0 clean
        self.active = []
        for c in clips:
            fs = [features(c, k, cache).astype(np.float64) for k in range(copies + 1)]
            self.feats.append(fs)
            self.active.append([active_of(f) for f in fs])
        self.speaker_stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        by_speaker = defaultdict(list)
        for i, c in enumerate(clips):
            by_speaker[c.speaker].append(self.feats[i][0][self.active[i][0]])
        for spk, rows in by_speaker.items():
            self.speaker_stats[spk] = _moments(np.concatenate(rows))

    def prior(self, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of the speech hops of clips idx, each speaker weighted equally."""
        speakers = sorted({self.clips[i].speaker for i in idx})
        m1 = np.mean([self.speaker_stats[s][0] for s in speakers], axis=0)
        m2 = np.mean([self.speaker_stats[s][1] for s in speakers], axis=0)
        return m1, np.sqrt(np.maximum(m2 - m1**2, 1e-2))


def active_of(feats: np.ndarray) -> np.ndarray:
    """Speech hops of a clip, with the clip's noise floor (a stream's, when it starts so)."""
    if len(feats) == 0:
        return np.zeros(0, bool)
    return ef.active_mask(feats[:, ef.ENERGY_COL], ef.noise_floor(feats[:, ef.ENERGY_COL]))


def _moments(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and second moment over the known (not nan) entries."""
    known = ~np.isnan(rows)
    x = np.where(known, rows, 0.0)
    n = np.maximum(known.sum(0), 1)
    return x.sum(0) / n, (x * x).sum(0) / n


def window(feats, active, end, baseline: ef.Baseline) -> np.ndarray:
    """The network input of the window ending at hop `end` (padding before the clip)."""
    lo = end - WINDOW_HOPS
    f = feats[max(lo, 0) : end]
    a = active[max(lo, 0) : end]
    if lo < 0:
        f = np.concatenate([np.zeros((-lo, ef.N_FEATURES)), f])
        a = np.concatenate([np.zeros(-lo, bool), a])
    mean, std = baseline.mean_std()
    return ef.normalise(f, a, mean, std)


def cold_baseline(prior, feats, active, end) -> ef.Baseline:
    """The baseline of a stream that started with this clip, at hop `end`."""
    b = ef.Baseline(prior[0], prior[1], PRIOR_HOPS)
    b.add(feats[:end][active[:end]])
    return b


def warm_baseline(prior, stats, hops: float) -> ef.Baseline:
    """A stream that has heard `hops` hops of this speaker (at the speaker's averages)."""
    b = ef.Baseline(prior[0], prior[1], PRIOR_HOPS)
    b.n[:] = hops
    b.s1 = stats[0] * hops
    b.s2 = stats[1] * hops
    return b


def sample_batch(corpus: Corpus, by_class: list[list[int]], prior, rng, size: int):
    xs, ys = [], []
    while len(xs) < size:
        y = int(rng.integers(len(by_class)))
        i = by_class[y][int(rng.integers(len(by_class[y])))]
        k = int(rng.integers(len(corpus.feats[i])))
        feats, active = corpus.feats[i][k], corpus.active[i][k]
        if active.sum() < 10:
            continue
        end = int(rng.integers(min(15, len(feats)), len(feats) + 1))
        if rng.random() < 0.4:
            base = cold_baseline(prior, feats, active, end)
        else:
            stats = corpus.speaker_stats[corpus.clips[i].speaker]
            base = warm_baseline(prior, stats, float(rng.uniform(100, 3000)))  # 4-120 s
        x = window(feats, active, end, base)
        if (x != 0).any(axis=1).mean() < MIN_ACTIVE:  # the run-time gate gives no estimate
            continue
        xs.append(x)
        ys.append(y)
    return np.stack(xs), np.array(ys)


def clip_scores(net, corpus: Corpus, idx: list[int], prior, warm: bool) -> np.ndarray:
    """Mean class probabilities (len(idx), C) over each clip's updates, as a stream sees the
    clip alone (cold) or after much of the speaker's speech (warm)."""
    import torch

    out = []
    for i in idx:
        feats, active = corpus.feats[i][0], corpus.active[i][0]
        stats = corpus.speaker_stats[corpus.clips[i].speaker]
        xs = []
        for end in range(UPDATE_HOPS, len(feats) + 1, UPDATE_HOPS):
            base = (
                warm_baseline(prior, stats, 1500.0)
                if warm
                else cold_baseline(prior, feats, active, end)
            )
            x = window(feats, active, end, base)
            if (x != 0).any(axis=1).mean() >= MIN_ACTIVE:
                xs.append(x)
        if not xs:
            out.append(np.full(len(CLASSES), np.nan))
            continue
        with torch.no_grad():
            p = torch.softmax(net(torch.from_numpy(np.stack(xs))), dim=1).numpy()
        out.append(p.mean(0))
    return np.array(out)


def uar(true: list[int], pred: np.ndarray, classes: list[int]) -> float:
    return float(np.mean([np.mean(pred[np.array(true) == c] == c) for c in classes]))


def train(corpus: Corpus, train_idx: list[int], steps: int, seed: int, log_every: int = 500):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels = [CLASSES.index(corpus.clips[i].label) for i in train_idx]
    by_class = [[i for i, y in zip(train_idx, labels, strict=True) if y == c]
                for c in range(len(CLASSES))]  # fmt: skip
    missing = [CLASSES[c] for c, members in enumerate(by_class) if not members]
    if missing:
        raise SystemExit(f"no training clips of {', '.join(missing)}")
    prior = corpus.prior(train_idx)
    net = build_net(len(CLASSES))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    t0, running = time.process_time(), 0.0
    for step in range(1, steps + 1):
        x, y = sample_batch(corpus, by_class, prior, rng, 64)
        x = torch.from_numpy(x)
        x = x + 0.1 * torch.randn_like(x) * (x != 0)  # feature jitter on speech rows only
        loss = loss_fn(net(x), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if step % log_every == 0 or step == steps:
            n = log_every if step % log_every == 0 else step % log_every
            print(f"step {step} loss {running / n:.3f} cpu {time.process_time() - t0:.0f}s",
                  flush=True)  # fmt: skip
            running = 0.0
    return net.eval(), prior


def export(net, prior, path: str | Path, sources: list[str]) -> None:
    import onnx
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        net,
        (torch.zeros(2, WINDOW_HOPS, ef.N_FEATURES),),
        str(path),
        input_names=["features"],
        output_names=["logits"],
        opset_version=17,
        dynamo=False,
        dynamic_axes={"features": {0: "B"}, "logits": {0: "B"}},
    )
    model = onnx.load(str(path))
    weights = b"".join(t.raw_data for t in model.graph.initializer)
    meta = {
        "format": FORMAT,
        "classes": list(CLASSES),
        "features": list(ef.FEATURE_NAMES),
        "window_hops": WINDOW_HOPS,
        "prior_mean": [round(float(v), 5) for v in prior[0]],
        "prior_std": [round(float(v), 5) for v in prior[1]],
        "prior_hops": PRIOR_HOPS,
        "trained_on": sources,
        "sha": hashlib.sha256(weights).hexdigest()[:12],
    }
    entry = model.metadata_props.add()
    entry.key, entry.value = "facewire_emotion", json.dumps(meta)
    onnx.save(model, str(path))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", action="append", default=[], help="corpus folder (repeatable)")
    ap.add_argument("--layout", action="append", default=[], help="its layout, one per --data")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--copies", type=int, default=2, help="augmented copies of each clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--holdout", default="", help="comma-separated speakers (layout:id) to test")
    ap.add_argument("--cache", default=str(CACHE), help="feature cache folder")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if len(args.data) != len(args.layout):
        raise SystemExit("give one --layout per --data")
    pairs = list(zip(args.data, args.layout, strict=True)) or [
        (str(SPEECH / "emodb"), "emodb"),
        (str(SPEECH / "librispeech"), "neutral"),
    ]
    clips = [c for d, layout in pairs for c in list_clips(d, layout)]
    clips = [c for c in clips if c.label in CLASSES or c.label == "calm"]
    for c in clips:
        c.label = "neutral" if c.label == "calm" else c.label
    held = {s for s in args.holdout.split(",") if s}
    unknown = held - {c.speaker for c in clips}
    if unknown:
        raise SystemExit(f"--holdout: no speakers {sorted(unknown)}")
    t0 = time.process_time()
    corpus = Corpus(clips, args.copies, Path(args.cache))
    print(f"{len(clips)} clips, features {time.process_time() - t0:.0f}s cpu", flush=True)
    train_idx = [i for i, c in enumerate(clips) if c.speaker not in held]
    net, prior = train(corpus, train_idx, args.steps, args.seed)
    export(net, prior, args.out, [f"{Path(d).name} ({layout})" for d, layout in pairs])
    print(f"wrote {args.out}")
    if held:
        test = [i for i, c in enumerate(clips) if c.speaker in held]
        true = [CLASSES.index(clips[i].label) for i in test]
        present = sorted(set(true) - {0})
        for warm in (False, True):
            p = clip_scores(net, corpus, test, prior, warm)
            p = np.nan_to_num(p, nan=0.0)
            top = np.argmax(p[:, 1:], axis=1) + 1  # the top emotion class, as A2E's outputs
            full = np.argmax(p, axis=1)
            print(f"holdout {'warm' if warm else 'cold'}: UAR over "
                  f"{[CLASSES[c] for c in present]} {uar(true, top, present):.3f}; "
                  f"with neutral as a class {uar(true, full, [0, *present]):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
