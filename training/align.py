"""Pseudo phone alignments of the LibriSpeech clips: recognise, force-align, cross-check.

    python -m training.align [--split eval|train|all] [--speech DIR] [--out DIR]

LibriSpeech in shared/ has no transcripts, so each utterance is (1) recognised with the
English acoustic model, language model and CMU dictionary that the `pocketsphinx` wheel
ships (no downloads), (2) force-aligned to its own hypothesis, which gives phone timings at
10 ms, and (3) decoded again with the wheel's phone-loop model, which knows no words. The
recogniser's words are often wrong, but the aligned phones still describe the audio: a
misheard "bat" for "pat" still closes the lips on the right frames.

Confidence: an aligned phone is *confirmed* when the phone loop has a phone of the same
broad class (BROAD below) overlapping it within 20 ms; a word is confident when at least
MIN_WORD_AGREEMENT of its phones are confirmed, and a pause when the phone loop also hears
silence over most of it. Everything else is written with the label "XX", which the reference
scorer counts in no metric (it treats it as a consonant in its sync target only).

Held-out speakers (never to be trained on): all 10 test-other speakers and every
EVAL_EVERY-th train-clean-100 speaker in sorted order. Output, one small JSON per utterance:
training/alignments/librispeech/<utt>.json = {utt, speaker, split, hyp, phones: [[start_s,
end_s, label, confirmed 0/1]]}, labels ARPAbet without stress ("SIL" = pause, "XX" = not
confident). About 0.4 s of CPU per second of audio, one thread.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
OUT = HERE / "alignments" / "librispeech"
SPEECH = HERE.parent.parent / "shared" / "data" / "speech"  # ../shared beside the checkout
EVAL_EVERY = 6  # train-clean-100 speakers 0, 6, 12, ... (sorted by id) are held out
MIN_WORD_AGREEMENT = 0.67
MIN_PAUSE_AGREEMENT = 0.8
SLACK_FRAMES = 2  # 20 ms either side when matching against the phone loop

BROAD = {
    **dict.fromkeys(("P", "B", "M"), "bilabial"),
    **dict.fromkeys(("F", "V"), "labiodental"),
    **dict.fromkeys(("TH", "DH"), "dental"),
    **dict.fromkeys(("T", "D", "N", "L"), "alveolar"),
    **dict.fromkeys(("S", "Z", "SH", "ZH", "CH", "JH"), "sibilant"),
    **dict.fromkeys(("K", "G", "NG", "HH"), "back"),
    **dict.fromkeys(("R", "ER", "W", "Y"), "approximant"),
    **dict.fromkeys(("AA", "AE", "AH", "AO", "AW", "AY"), "open"),
    **dict.fromkeys(("UW", "UH", "OW", "OY"), "rounded"),
    **dict.fromkeys(("IY", "IH", "EY", "EH"), "front"),
    "SIL": "sil",
}


def utterances(speech: Path) -> list[tuple[str, str, Path, str]]:
    """(utt id, speaker, flac, split) for every LibriSpeech clip, in a fixed order."""
    root = speech / "librispeech"
    rows = []
    for f in sorted((root / "test-other").glob("*/*.flac")):
        rows.append((f.stem, f.stem.split("-")[0], f, "eval"))
    clean = sorted(
        (root / "train-clean-100").glob("*.flac"), key=lambda f: int(f.stem.split("-")[0])
    )
    for i, f in enumerate(clean):
        rows.append((f.stem, f.stem.split("-")[0], f, "eval" if i % EVAL_EVERY == 0 else "train"))
    return rows


def _decoders():
    import pocketsphinx as ps

    quiet = {"samprate": 16000, "loglevel": "ERROR"}
    phone_lm = os.path.join(ps.get_model_path(), "en-us", "en-us-phone.lm.bin")
    rec = ps.Decoder(**quiet)
    align = ps.Decoder(lm=None, **quiet)
    loop = ps.Decoder(lm=None, allphone=phone_lm, beam=1e-20, pbeam=1e-20, lw=2.0, **quiet)
    return rec, align, loop


def _decode(dec, raw: bytes) -> None:
    dec.start_utt()
    dec.process_raw(raw, full_utt=True)
    dec.end_utt()


def align_one(decoders, pcm_i16: np.ndarray) -> dict:
    """Recognise, align and cross-check one 16 kHz utterance; see the module docstring."""
    rec, align, loop = decoders
    raw = pcm_i16.tobytes()
    _decode(rec, raw)
    hyp = rec.hyp().hypstr if rec.hyp() is not None else ""
    if not hyp.strip():
        return {"hyp": "", "phones": []}
    try:
        align.set_align_text(hyp)
        _decode(align, raw)
        align.set_alignment()
        _decode(align, raw)
    except RuntimeError as err:  # the state aligner gives up on some clips: leave them out
        return {"hyp": hyp, "phones": [], "error": str(err)}
    al = align.get_alignment()
    _decode(loop, raw)
    n_frames = len(pcm_i16) // 160 + 1
    loop_cls = np.full(n_frames + 1, "", dtype=object)
    for s in loop.seg():
        name = s.word.upper()
        loop_cls[s.start_frame : s.end_frame + 1] = BROAD.get(
            name, "sil" if name.startswith("+") else ""
        )
    phones = []
    for w in al.words():
        word_phones = []
        for p in w:
            name = p.name.upper()
            if name not in BROAD:
                raise ValueError(f"pocketsphinx phone {p.name!r} has no broad class")
            a, b = p.start, p.start + p.duration
            lo, hi = max(0, a - SLACK_FRAMES), min(n_frames, b + SLACK_FRAMES)
            window = loop_cls[lo:hi]
            if name == "SIL":
                core = loop_cls[a:b]
                ok = len(core) > 0 and np.mean(core == "sil") >= MIN_PAUSE_AGREEMENT
            else:
                ok = bool(np.any(window == BROAD[name]))
            word_phones.append([a / 100, b / 100, name, int(ok)])
        agree = np.mean([p[3] for p in word_phones]) if word_phones else 0.0
        keep = agree >= (
            MIN_PAUSE_AGREEMENT if w.name in ("<sil>", "SIL", "<s>", "</s>") else MIN_WORD_AGREEMENT
        )
        for p in word_phones:
            if not keep:
                p[2] = "XX"
            phones.append(p)
    return {"hyp": hyp, "phones": phones}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=["eval", "train", "all"], default="eval")
    ap.add_argument("--speech", default=str(SPEECH))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--limit", type=int, default=0, help="at most this many new files (0: all)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    decoders = _decoders()
    done = 0
    for utt, spk, flac, split in utterances(Path(args.speech)):
        dst = out / f"{utt}.json"
        if (args.split != "all" and split != args.split) or dst.exists():
            continue
        pcm, sr = sf.read(flac, dtype="int16")
        if sr != 16000 or pcm.ndim != 1:
            raise ValueError(f"{flac}: expected 16 kHz mono, got {sr} Hz, shape {pcm.shape}")
        doc = {"utt": utt, "speaker": spk, "split": split} | align_one(decoders, pcm)
        if "error" in doc:
            decoders = _decoders()  # a failed alignment can leave its decoder mid-utterance
        dst.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        done += 1
        kept = sum(p[2] != "XX" for p in doc["phones"])
        print(f"{utt} {split} {kept}/{len(doc['phones'])} phones confident", flush=True)
        if args.limit and done >= args.limit:
            break


if __name__ == "__main__":
    main()
