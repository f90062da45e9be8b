"""Undo regression to the mean: match each output channel's distribution to the teacher's.

    python -m training.calibrate CHECKPOINT.pt OUT.pt [--batches 30]

A network trained with MSE on ambiguous audio predicts shrunken curves (the jaw opens less
than the teacher's). This fits, per teacher channel, a logit scale a >= 1 and shift b so that
the quantiles of sigmoid(a * z + b) over augmented crops of the TRAINING voices match the
quantiles of the teacher's curves on the same frames, then folds a, b into the last layer.
The graph is unchanged; only the output layer's weights move.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from training.model import LOOKAHEAD, LipSyncNet
from training.teacher import CHANNELS
from training.train import WORK, Corpus, make_batch


def fit_channel(z: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """(a, b) matching quantiles of sigmoid(a z + b) to those of t; a kept in [1, 2.5]."""
    qs = np.linspace(0.01, 0.995, 120)
    qz = torch.tensor(np.quantile(z, qs), dtype=torch.float64)
    qt = torch.tensor(np.quantile(t, qs), dtype=torch.float64)
    if float(qt.max() - qt.min()) < 1e-3:
        return 1.0, 0.0
    la = torch.zeros((), dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([la, b], lr=0.05)
    for _ in range(600):
        a = 1.0 + 1.5 * torch.sigmoid(la * 4 - 4)
        loss = ((torch.sigmoid(a * qz + b) - qt) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    a = 1.0 + 1.5 * torch.sigmoid(la * 4 - 4)
    return float(a), float(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--meta", default="engines/models/lipsync.json")
    ap.add_argument("--data", default=str(WORK / "data"))
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--seed", type=int, default=99)
    args = ap.parse_args()
    torch.set_num_threads(1)
    meta = json.loads(Path(args.meta).read_text())
    net = LipSyncNet(width=meta["width"], dilations=tuple(meta["dilations"]))
    net.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
    net.eval()
    corpus = Corpus(sorted(Path(args.data).glob("train-*.npz")))
    rng = np.random.default_rng(args.seed)
    captured: list[torch.Tensor] = []
    net.out.register_forward_hook(lambda _m, _i, out: captured.append(out.transpose(1, 2)))
    zs, ts = [], []
    with torch.no_grad():
        for i in range(args.batches):
            feats, tgt, _ = make_batch(corpus, rng, 16, 300, aug=i % 3 != 0)
            captured.clear()
            net.channels(feats, net.zero_state(len(feats)))
            zs.append(captured[0][:, LOOKAHEAD + 20 :].reshape(-1, len(CHANNELS)).numpy())
            ts.append(tgt[:, 20 : tgt.shape[1] - LOOKAHEAD].reshape(-1, len(CHANNELS)).numpy())
    z, t = np.concatenate(zs), np.concatenate(ts)
    fits = {}
    with torch.no_grad():
        for c, name in enumerate(CHANNELS):
            a, b = fit_channel(z[:, c], t[:, c])
            net.out.weight[c] *= a
            net.out.bias[c] = net.out.bias[c] * a + b
            fits[name] = (round(a, 3), round(b, 3))
    torch.save(net.state_dict(), args.out)
    print(json.dumps(fits))


if __name__ == "__main__":
    main()
