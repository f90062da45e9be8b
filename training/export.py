"""Re-export a trained checkpoint to ONNX (e.g. after a change to the inference graph).

    python -m training.export CHECKPOINT.pt MODEL.onnx

MODEL.json (the sidecar training wrote) must exist beside MODEL.onnx: it gives the width
and the output sharpening (aperture_sharpen) applied to the checkpoint's weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from training.model import LipSyncNet, export_onnx, sharpen_aperture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("model")
    args = ap.parse_args()
    meta = json.loads(Path(args.model).with_suffix(".json").read_text())
    net = LipSyncNet(width=meta["width"], dilations=tuple(meta["dilations"]))
    net.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
    if net.state_size != meta["state_size"]:
        raise SystemExit(f"state size {net.state_size} != sidecar {meta['state_size']}")
    sharpen_aperture(net, meta.get("aperture_sharpen", 1.0))
    export_onnx(net, args.model)
    print(f"wrote {args.model}")


if __name__ == "__main__":
    main()
