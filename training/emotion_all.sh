#!/bin/sh
# Every number of engines/models/EMOTION_CARD.md, reproduced (one CPU thread, fixed seeds):
#   training/emotion_all.sh [WORKDIR]          (needs the train extra and ../shared/data/speech)
# 1. the shipped weights (EmoDB + LibriSpeech) and their scores on ravdess-dev and Claire,
#    beside the hand-set rules';
# 2. EmoDB with whole speakers held out: five folds of two speakers, each trained without them;
# 3. the local RAVDESS experiment: trained on actors 01-08, scored on 09-16. Those weights stay
#    in WORKDIR: RAVDESS is CC BY-NC-SA, so they never ship.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-training/work/emotion}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
$PY -m training.emotion --out engines/models/emotion.onnx
for m in builtin rules; do
    $PY -m training.emotion_eval --model $m --json "$OUT/ravdess_$m.json" > "$OUT/ravdess_$m.log"
done
for fold in 03,08 09,10 11,12 13,14 15,16; do
    a=${fold%,*}; b=${fold#*,}
    $PY -m training.emotion --holdout emodb:$a,emodb:$b --out "$OUT/emodb_wo_$a$b.onnx" \
        > "$OUT/emodb_wo_$a$b.train.log"
    $PY -m training.emotion_eval --model "$OUT/emodb_wo_$a$b.onnx" --set emodb --speakers "$fold" \
        --json "$OUT/emodb_wo_$a$b.json" > "$OUT/emodb_wo_$a$b.log"
done
$PY -m training.emotion_eval --model rules --set emodb --json "$OUT/emodb_rules.json" \
    > "$OUT/emodb_rules.log"
H=ravdess:09,ravdess:10,ravdess:11,ravdess:12,ravdess:13,ravdess:14,ravdess:15,ravdess:16
$PY -m training.emotion --data ../shared/data/speech/ravdess-dev --layout ravdess --holdout "$H" \
    --out "$OUT/ravdess_0108.onnx" > "$OUT/ravdess_0108.train.log"
$PY -m training.emotion_eval --model "$OUT/ravdess_0108.onnx" --speakers 09,10,11,12,13,14,15,16 \
    --json "$OUT/ravdess_exp.json" > "$OUT/ravdess_exp.log"
$PY -m training.emotion_eval --model builtin --speakers 09,10,11,12,13,14,15,16 \
    --json "$OUT/ravdess_builtin_0916.json" > "$OUT/ravdess_builtin_0916.log"
