#!/bin/sh
# Tiny end-to-end run of the training pipeline, for CI (< 3 min on one core): synthesise a few
# utterances with flite (apt: flite), train a few steps twice (the same bytes), export ONNX,
# load it in OnnxEngine and check that streamed output has the contract's frame count.
#   training/smoke.sh [WORKDIR]      (needs torch + onnx: pip install -e '.[train]')
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-$(mktemp -d)}
export OMP_NUM_THREADS=1
$PY -m training.synth --voices flite:kal16 --val-voices flite:awb --minutes-per-voice 0.4 \
    --val-minutes-per-voice 0.2 --out "$OUT/data"
for run in lipsync again; do  # twice: fixed seeds must give the same weights, byte for byte
    $PY -m training.train --steps 4 --batch 4 --frames 200 --eval-every 2 --data "$OUT/data" \
        --out "$OUT/$run.onnx" --checkpoint "$OUT/$run.pt"
done
cmp "$OUT/lipsync.onnx" "$OUT/again.onnx"
$PY - "$OUT/lipsync.onnx" <<'PYEOF'
import sys

import numpy as np

from facewire.engines.base import frames_for
from facewire.engines.onnx import OnnxEngine

engine = OnnxEngine(fps=30.0, model_path=sys.argv[1])
pcm = (0.05 * np.random.default_rng(0).standard_normal(16000 + 555)).astype(np.float32)
st = engine.new_stream()
out = [engine.process([(st, pcm[i:i + 1000], False)])[0] for i in range(0, len(pcm), 1000)]
out.append(engine.process([(st, np.zeros(0, np.float32), True)])[0])
w = np.concatenate(out)
assert w.shape == (frames_for(len(pcm), 30.0), 52), w.shape
assert 0.0 <= w.min() and w.max() <= 1.0
print(f"smoke ok: {w.shape[0]} frames from {sys.argv[1]}")
PYEOF
