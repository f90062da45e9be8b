"""training/evaluate.py's own metric (labiodental) and counts, on hand-made curves, and the
held-out alignments it reads: confident phones only, speakers held out as documented."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES
from tests.conftest import SHARED
from training import evaluate
from training.align import BROAD, EVAL_EVERY, utterances

TOOLS = SHARED / "tools"
ALIGNMENTS = Path(evaluate.ALIGNMENTS)

pytestmark = pytest.mark.skipif(
    not (TOOLS / "lipsync_score.py").exists(), reason="reference scorer not present"
)

# 0.0-0.3 pause, 0.3-0.5 /f/, 0.5-0.7 /aa/, 0.7-0.9 /p/, 0.9-1.1 /uw/, 1.1-1.3 /s/
PHONES = [
    (0.0, 0.3, ""),
    (0.3, 0.5, "F"),
    (0.5, 0.7, "AA1"),
    (0.7, 0.9, "P"),
    (0.9, 1.1, "UW1"),
    (1.1, 1.3, "S"),
]


def _write(tmp: Path, lip: float, jaw_on_f: float) -> tuple[Path, Path]:
    pairs, jdir = tmp / f"pairs-{lip}-{jaw_on_f}", tmp / f"json-{lip}-{jaw_on_f}"
    pairs.mkdir()
    jdir.mkdir()
    evaluate._write_textgrid(pairs / "x.TextGrid", 1.3, PHONES)
    t = np.arange(0, 1.3, 1 / 30)
    w = np.zeros((len(t), len(ARKIT_NAMES)))
    on_f = (t >= 0.3) & (t <= 0.5)
    w[on_f, ARKIT_INDEX["mouthRollLower"]] = lip
    w[on_f, ARKIT_INDEX["jawOpen"]] = jaw_on_f
    w[(t > 0.5) & (t < 0.7), ARKIT_INDEX["jawOpen"]] = 0.6
    doc = {"fps": 30.0, "names": list(ARKIT_NAMES), "weights": w.tolist()}
    (jdir / "x.json").write_text(json.dumps(doc))
    return pairs, jdir


@pytest.mark.parametrize("lip, jaw, hit", [(0.3, 0.1, 1.0), (0.1, 0.1, 0.0), (0.3, 0.4, 0.0)])
def test_labiodental_needs_the_lip_up_and_the_jaw_nearly_shut(tmp_path, lip, jaw, hit):
    scorer = evaluate._load_scorer(TOOLS)
    r = evaluate.extra_metrics(scorer, *_write(tmp_path, lip, jaw))
    assert r["labiodental_n"] == 1 and r["labiodental"] == hit
    assert r["rounded_n"] == 1 and r["spread_n"] == 0
    # the /f/ outranks /p/ and /s/ on lip-to-teeth exactly when the lip is raised
    assert r["labiodental_auc"] == (1.0 if lip > 0 else 0.5)


def test_scorer_cli_agrees_with_the_imported_scorer(tmp_path):
    scorer = evaluate._load_scorer(TOOLS)
    pairs, jdir = _write(tmp_path, 0.3, 0.1)
    r = scorer.score(str(pairs), str(jdir))
    evaluate.check_scorer_cli(TOOLS, pairs, jdir, r)
    with pytest.raises(RuntimeError, match="scorer mismatch"):
        evaluate.check_scorer_cli(TOOLS, pairs, jdir, r | {"bilabial_n": r["bilabial_n"] + 1})


@pytest.mark.skipif(not ALIGNMENTS.is_dir(), reason="no committed alignments")
def test_committed_alignments_hold_out_whole_speakers():
    speech = SHARED / "data" / "speech"
    if not (speech / "librispeech").is_dir():
        pytest.skip("LibriSpeech not present")
    split = {utt: s for utt, _, _, s in utterances(speech)}
    eval_speakers = {u.split("-")[0] for u, s in split.items() if s == "eval"}
    train_speakers = {u.split("-")[0] for u, s in split.items() if s == "train"}
    assert not eval_speakers & train_speakers
    assert len(eval_speakers) == 10 + -(-251 // EVAL_EVERY)
    for f in ALIGNMENTS.glob("*.json"):
        doc = json.loads(f.read_text())
        assert doc["split"] == split[doc["utt"]], f.name
        for a, b, lab, confirmed in doc["phones"]:
            assert a < b and (lab == "XX" or lab in BROAD), (f.name, lab)
            assert confirmed in (0, 1)
