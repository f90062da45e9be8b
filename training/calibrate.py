"""Set the output sharpening of an exported lip-sync model's opening channels.

    python -m training.calibrate --sharpen K [--model engines/models/lipsync.onnx]

training/model.py's sharpen_aperture scales the jawOpen, mouthLowerDown and mouthUpperUp
logits by k about the logit of SHARPEN_PIVOT; train.py applies the k it is given before
export. This step changes k of an exported model from the sidecar's `aperture_sharpen` to K
by the same map on the output layer's weights (ratio K / k), so it needs no checkpoint and
leaves the graph alone; the sidecar records K. Deterministic: the same input file gives the
same bytes. (training/export.py re-exporting a checkpoint applies K in one step, which equals
this within float rounding.)

Why K is not the k training used: that one was chosen on held-back synthetic voices; on real
voices (LibriSpeech training speakers, pseudo-aligned by training/align.py) the jaw still
stops short. training/CARD_NOTES.md has the sweep.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training.model import SHARPEN_CHANNELS, SHARPEN_PIVOT

MODELS = Path(__file__).resolve().parent.parent / "engines" / "models"


def resharpen(model: Path, k: float) -> float:
    """Rewrite `model` (and its sidecar) with sharpening k; returns the previous k."""
    import onnx
    from onnx import numpy_helper

    if k <= 0:
        raise ValueError(f"sharpening k={k} must be > 0")
    side = model.with_suffix(".json")
    meta = json.loads(side.read_text())
    old = float(meta.get("aperture_sharpen", 1.0))
    m = onnx.load(str(model))
    inits = {t.name: t for t in m.graph.initializer}
    w = numpy_helper.to_array(inits["w_out"]).astype(np.float64)
    b = numpy_helper.to_array(inits["b_out"]).astype(np.float64)
    c = float(np.log(SHARPEN_PIVOT / (1 - SHARPEN_PIVOT)))
    r = k / old
    for name in SHARPEN_CHANNELS:
        i = meta["teacher_channels"].index(name)
        w[:, i] *= r
        b[i] = r * (b[i] - c) + c
    inits["w_out"].CopyFrom(numpy_helper.from_array(w.astype(np.float32), "w_out"))
    inits["b_out"].CopyFrom(numpy_helper.from_array(b.astype(np.float32), "b_out"))
    onnx.save(m, str(model))
    meta["aperture_sharpen"] = k
    meta["aperture_sharpen_at_export"] = meta.get("aperture_sharpen_at_export", old)
    side.write_text(json.dumps(meta, indent=1) + "\n")
    return old


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(MODELS / "lipsync.onnx"))
    ap.add_argument("--sharpen", type=float, required=True)
    args = ap.parse_args()
    old = resharpen(Path(args.model), args.sharpen)
    print(f"{args.model}: aperture sharpening {old:g} -> {args.sharpen:g}")


if __name__ == "__main__":
    main()
