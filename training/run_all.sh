#!/bin/sh
# The whole lip-sync pipeline, one command: synthesise -> train -> export -> evaluate -> card.
#   sudo training/setup.sh        (once: flite, espeak-ng, mbrola + voices)
#   pip install -e '.[train]'     (once: torch 2.13 CPU, onnx)
#   training/run_all.sh [STEPS]   (default 3200 steps; one thread; fixed seeds)
# Outputs: engines/models/lipsync.onnx + lipsync.json + MODEL_CARD.md, training/RESULTS.md.
# Generated audio and checkpoints go to training/work/ (git-ignored).
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
STEPS=${1:-3200}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
$PY -m training.synth --minutes-per-voice 15 --val-minutes-per-voice 3 --seed 1
$PY -m training.train --steps "$STEPS" --seed 7 --out engines/models/lipsync.onnx
$PY -m training.evaluate --engines onnx,dsp,lip_flap --write-results
$PY bench/engine_cost.py --engine onnx --json training/work/engine_cost-onnx.json
$PY -m training.model_card --bench training/work/engine_cost-onnx.json
