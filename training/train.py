"""Train the lip-sync network on synthesised speech and export it to ONNX.

    python -m training.train --steps 3000 [--smoke]

Reads training/work/data/{train,val}-*.npz (training.synth), builds teacher curves
(training.teacher), trains on randomly cropped, augmented audio (training.augment) with
features from facewire.engines.features, keeps the checkpoint with the lowest validation
loss (held-back voices), and writes the ONNX model plus a JSON sidecar. One thread, fixed
seeds: the same command reproduces the same weights.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from facewire.engines.features import HOP_SAMPLES, WIN_SAMPLES, frame_windows, log_mel_windows
from training.augment import augment
from training.model import LOOKAHEAD, LipSyncNet, export_onnx, sharpen_aperture
from training.teacher import BILABIAL, CH, CHANNELS, teacher_curves

WORK = Path(__file__).resolve().parent / "work"
MODELS = Path(__file__).resolve().parent.parent / "engines" / "models"
CHANNEL_WEIGHT = np.ones(len(CHANNELS), dtype=np.float32)
for _name, _w in (
    ("jawOpen", 3.0),
    ("mouthClose", 3.0),
    ("mouthFunnel", 2.0),
    ("mouthPucker", 2.0),
    ("mouthLowerDown", 1.5),
    ("mouthUpperUp", 1.5),
):
    CHANNEL_WEIGHT[CH[_name]] = _w


class Corpus:
    """All utterances of a split, concatenated per voice, with teacher curves at 100 Hz."""

    def __init__(self, files: list[Path]) -> None:
        self.pcm: list[np.ndarray] = []  # per voice (n,) float32 clean audio
        self.tgt: list[np.ndarray] = []  # per voice (frames, C) float32 teacher curves
        self.bil: list[np.ndarray] = []  # per voice (frames,) bool: lips-meet frames
        self.names: list[str] = []
        for f in files:
            d = np.load(f)
            pcm = d["pcm"].astype(np.float32) / 32768.0
            off = d["offsets"]
            tg, bl = [], []
            for u in range(len(off) - 1):
                # Whole frames per utterance so the concatenation stays aligned at 100 Hz.
                n = (off[u + 1] - off[u]) // HOP_SAMPLES
                sel = d["utt"] == u
                ph = list(zip(d["starts"][sel], d["ends"][sel], d["labels"][sel], strict=True))
                seg = pcm[off[u] : off[u] + n * HOP_SAMPLES]
                tg.append(teacher_curves(ph, n, seg))
                m = np.zeros(n, dtype=bool)
                for a, b, lab in ph:
                    if lab in BILABIAL:
                        lo = int(math.ceil((a + 0.2 * (b - a)) * 100))
                        m[lo : int((b - 0.2 * (b - a)) * 100) + 1] = True
                bl.append(m)
            keep = np.concatenate(
                [
                    np.arange(off[u], off[u] + (off[u + 1] - off[u]) // HOP_SAMPLES * HOP_SAMPLES)
                    for u in range(len(off) - 1)
                ]
            )
            self.pcm.append(pcm[keep])
            self.tgt.append(np.concatenate(tg))
            self.bil.append(np.concatenate(bl))
            self.names.append(str(d["voice"]))
        self.frames = np.array([len(t) for t in self.tgt])

    def hours(self) -> float:
        return float(self.frames.sum() / 100 / 3600)


def make_batch(
    corpus: Corpus,
    rng: np.random.Generator,
    batch: int,
    frames: int,
    aug: bool = True,
    noise: dict | None = None,
    silence_p: float = 0.25,
    skip: int = 20,
):
    """Augmented features (B,T,80), targets (B,T,C), lips-meet mask (B,T) and scored-frame
    mask (B,T) for random crops.

    The network starts every crop from a zero state, as a stream starts, so the first `skip`
    frames of a crop cut from running speech are not scored (the net has not heard their
    past); a crop that starts with inserted silence is scored from frame 0, which teaches the
    mouth to rest from the first frame of a stream that opens on silence or noise.
    """
    feats, tgts, bils, valids = [], [], [], []
    p = corpus.frames / corpus.frames.sum()
    babble = [corpus.pcm[i] for i in range(len(corpus.pcm))]
    for _ in range(batch):
        v = rng.choice(len(corpus.pcm), p=p)
        j0 = int(rng.integers(0, corpus.frames[v] - frames))
        pcm = corpus.pcm[v]
        a = j0 * HOP_SAMPLES - WIN_SAMPLES // 2
        seg = np.zeros(frames * HOP_SAMPLES + WIN_SAMPLES, dtype=np.float32)
        lo = max(a, 0)
        seg[lo - a : lo - a + len(pcm[lo : a + len(seg)])] = pcm[lo : a + len(seg)]
        tgt = corpus.tgt[v][j0 : j0 + frames].copy()
        bil = corpus.bil[v][j0 : j0 + frames].copy()
        valid = np.arange(frames) >= skip
        if aug and rng.random() < silence_p:  # leading or trailing silence
            r = int(rng.integers(20, frames // 2))
            if rng.random() < 0.5:
                valid[:] = True
                seg = np.concatenate([np.zeros(r * HOP_SAMPLES, np.float32), seg])[: len(seg)]
                tgt = np.concatenate([np.zeros((r, tgt.shape[1]), np.float32), tgt])[:frames]
                bil = np.concatenate([np.zeros(r, bool), bil])[:frames]
            else:
                seg[(frames - r) * HOP_SAMPLES + WIN_SAMPLES // 2 :] = 0.0
                tgt[frames - r :] = 0.0
                bil[frames - r :] = False
        if aug:
            seg = augment(seg, rng, babble, **(noise or {}))
        else:
            seg = seg * (10 ** (-25 / 20) / (np.sqrt(np.mean(seg**2)) + 1e-9))
            seg += rng.standard_normal(len(seg)).astype(np.float32) * 1e-4
        win = frame_windows(seg, 0, frames, offset=-(WIN_SAMPLES // 2))
        feats.append(log_mel_windows(win))
        tgts.append(tgt)
        bils.append(bil)
        valids.append(valid)
    return (
        torch.from_numpy(np.stack(feats)),
        torch.from_numpy(np.stack(tgts)),
        torch.from_numpy(np.stack(bils)),
        torch.from_numpy(np.stack(valids)),
    )


def loss_fn(
    pred: torch.Tensor,
    tgt: torch.Tensor,
    bil: torch.Tensor,
    valid: torch.Tensor,
    rest_weight: float = 0.0,
    closure_weight: float = 0.0,
    rest_hinge: float = 0.0,
) -> torch.Tensor:
    """Weighted MSE on teacher channels + aperture MSE over the scored frames (`valid`);
    output j is scored against frame j-L.

    MSE alone lets an unsure net stop half-way: on real speech its /p b m/ closures ended at
    aperture 0.11-0.15, above the 0.10 at which lips read as closed. The hinges
    closure_weight * relu(aperture - 0.03) on lips-meet frames and rest_hinge * the same on
    silent frames have a constant pull however near the target the net already is, so the
    lips shut fully on bilabials and the mouth rests in pauses, even in noise.
    """
    n = tgt.shape[1] - LOOKAHEAD
    p = pred[:, LOOKAHEAD:]
    t = tgt[:, :n]
    b = bil[:, :n].float()
    v = valid[:, :n].float()
    rest = (t.amax(dim=2) < 0.02).float()  # silence: the mouth must rest, even in noise
    fw = 1.0 + 3.0 * b + rest_weight * rest
    cw = torch.from_numpy(CHANNEL_WEIGHT)
    mse = (((p - t) ** 2) * cw).mean(dim=2)

    def ap(x: torch.Tensor) -> torch.Tensor:
        return (
            torch.relu(x[..., CH["jawOpen"]] - x[..., CH["mouthClose"]])
            + 0.5 * x[..., CH["mouthLowerDown"]]
            + 0.5 * x[..., CH["mouthUpperUp"]]
        )

    ape = (ap(p) - ap(t)) ** 2
    hinge = torch.relu(ap(p) - 0.03) * (closure_weight * b + rest_hinge * rest)
    return (((mse + 2.0 * ape) * fw + hinge) * v).sum() / v.sum().clamp(min=1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--width", type=int, default=96)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", default=str(WORK / "data"))
    ap.add_argument("--out", default=str(MODELS / "lipsync.onnx"))
    ap.add_argument("--init", default=None, help="checkpoint to fine-tune (stage 2)")
    ap.add_argument("--noise-p", type=float, default=0.75, help="probability of added noise")
    ap.add_argument("--rest-weight", type=float, default=0.0, help="extra loss on silence")
    ap.add_argument("--closure-weight", type=float, default=0.0, help="hinge pulling /p b m/ shut")
    ap.add_argument("--rest-hinge", type=float, default=0.0, help="hinge pulling silence shut")
    ap.add_argument("--silence-p", type=float, default=0.25, help="probability of inserted silence")
    ap.add_argument("--noise-kinds", default="white,pink,babble,hum,mix")
    ap.add_argument(
        "--sharpen",
        type=float,
        default=1.0,
        help="scale of the mouth-opening logits in the exported model (training.model)",
    )
    ap.add_argument("--snr-min", type=float, default=0.0)
    ap.add_argument("--snr-max", type=float, default=30.0)
    ap.add_argument("--checkpoint", default=str(WORK / "lipsync_best.pt"))
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument(
        "--time-limit-min",
        type=float,
        default=0.0,
        help="stop early after this many minutes (0: run all steps)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    noise = {
        "noise_p": args.noise_p,
        "snr_db": (args.snr_min, args.snr_max),
        "kinds": tuple(args.noise_kinds.split(",")),
    }
    weights = {
        "rest_weight": args.rest_weight,
        "closure_weight": args.closure_weight,
        "rest_hinge": args.rest_hinge,
    }
    rng = np.random.default_rng(args.seed)
    data = Path(args.data)
    t0 = time.time()
    train = Corpus(sorted(data.glob("train-*.npz")))
    val = Corpus(sorted(data.glob("val-*.npz")))
    print(
        f"train {train.hours():.2f} h ({', '.join(train.names)}); val {val.hours():.2f} h "
        f"({', '.join(val.names)}); loaded in {time.time() - t0:.0f} s",
        flush=True,
    )

    net = LipSyncNet(width=args.width)
    if args.init:
        net.load_state_dict(torch.load(args.init, map_location="cpu"))
    stats_rng = np.random.default_rng(args.seed + 1)
    if not args.init:  # a fine-tuning stage keeps the first stage's normalisation
        f, _, _, _ = make_batch(train, stats_rng, 64, args.frames)
        net.feat_mean.copy_(f.reshape(-1, f.shape[-1]).mean(0))
        net.feat_std.copy_(f.reshape(-1, f.shape[-1]).std(0) + 1e-3)
    val_rng = np.random.default_rng(12345)
    val_batches = [make_batch(val, val_rng, 16, args.frames, aug=i % 2 == 1) for i in range(6)]
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05
    )
    n_params = sum(p.numel() for p in net.parameters())
    print(f"params {n_params}, state {net.state_size}", flush=True)
    best, best_state, log = float("inf"), None, []
    t_train = time.time()
    step = 0
    for step in range(1, args.steps + 1):
        feats, tgt, bil, valid = make_batch(
            train, rng, args.batch, args.frames, noise=noise, silence_p=args.silence_p
        )
        pred, _ = net.channels(feats, net.zero_state(args.batch))
        loss = loss_fn(pred, tgt, bil, valid, **weights)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        last = step == args.steps or (
            args.time_limit_min and time.time() - t_train > args.time_limit_min * 60
        )
        if step % args.eval_every == 0 or last:
            with torch.no_grad():
                vl = [
                    float(loss_fn(net.channels(f, net.zero_state(len(f)))[0], t, b, v, **weights))
                    for f, t, b, v in val_batches
                ]
            vclean, vnoisy = float(np.mean(vl[0::2])), float(np.mean(vl[1::2]))
            vloss = (vclean + vnoisy) / 2
            log.append(
                {
                    "step": step,
                    "train_loss": float(loss),
                    "val_clean": vclean,
                    "val_aug": vnoisy,
                    "minutes": (time.time() - t_train) / 60,
                }
            )
            print(json.dumps(log[-1]), flush=True)
            if vloss < best:
                best = vloss
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
        if last:
            break
    minutes = (time.time() - t_train) / 60
    assert best_state is not None
    net.load_state_dict(best_state)
    sharpen_aperture(net, args.sharpen)  # exported weights only; the checkpoint stays raw
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(net, str(out))
    meta = {
        "format": "facewire-lipsync-1",
        "inputs": {"features": "[B,T,80] log-mel (facewire.engines.features)", "state": "[B,S]"},
        "outputs": {
            "weights": "[B,T,52] ARKit, output j = face of feature frame j-lookahead",
            "state_out": "[B,S]",
        },
        "state_size": net.state_size,
        "lookahead_frames": LOOKAHEAD,
        "feature_rate_hz": 100,
        "teacher_channels": list(CHANNELS),
        "params": n_params,
        "width": args.width,
        "dilations": list(net.dilations),
        "seed": args.seed,
        "steps_run": step,
        "batch": args.batch,
        "crop_frames": args.frames,
        "train_minutes": round(minutes, 1),
        "train_hours_audio": round(train.hours(), 2),
        "val_hours_audio": round(val.hours(), 2),
        "train_voices": train.names,
        "val_voices": val.names,
        "best_val_loss": best,
        "init": args.init,
        "noise_p": args.noise_p,
        "snr_db": [args.snr_min, args.snr_max],
        "rest_weight": args.rest_weight,
        "closure_weight": args.closure_weight,
        "rest_hinge": args.rest_hinge,
        "silence_p": args.silence_p,
        "aperture_sharpen": args.sharpen,
        "noise_kinds": args.noise_kinds,
        "lr": args.lr,
        "log": log,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    Path(args.checkpoint).parent.mkdir(parents=True, exist_ok=True)
    torch.save(best_state, args.checkpoint)
    print(
        f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), {step} steps in {minutes:.1f} min",
        flush=True,
    )


if __name__ == "__main__":
    main()
