#!/bin/sh
# The whole lip-sync pipeline, one command: synthesise -> train -> export -> evaluate ->
# model card. Fixed seeds, one thread (about 45 min of training on one core).
#   sudo training/setup.sh        (once: flite, espeak-ng, mbrola + voices)
#   pip install -e '.[train]'     (once: torch 2.13 CPU, onnx)
#   training/run_all.sh
# Outputs: engines/models/lipsync.onnx + lipsync.json + MODEL_CARD.md, training/RESULTS.md.
# Generated audio and checkpoints go to training/work/ (git-ignored).
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
W=training/work
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
$PY -m training.synth --minutes-per-voice 15 --val-minutes-per-voice 3 --seed 1
$PY -m training.train --steps 3200 --seed 7 --out engines/models/lipsync.onnx \
    --checkpoint $W/stage1/lipsync.pt
$PY -m training.evaluate --engines onnx,dsp,lip_flap --write-results
$PY bench/engine_cost.py --engine onnx --json $W/engine_cost-onnx.json
$PY -m training.model_card --bench $W/engine_cost-onnx.json
