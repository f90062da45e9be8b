"""Evaluate lip-sync engines on real and held-back synthetic speech, clean and at 10 dB SNR.

    python -m training.evaluate [--engines onnx,dsp,lip_flap] [--model PATH] [--write-results]

Sets, reported separately:
- real: the ARPAbet-aligned clips of ../shared/data/speech/aligned (pocketsphinx's five
  LibriVox utterances and praatIO's bobby), human-checked alignments;
- libri: the held-out LibriSpeech speakers (all of test-other and every 6th train-clean-100
  speaker, never trained on) with the pseudo-alignments of training/align.py; only confident
  words keep their phones, the rest are labelled XX and count in no metric;
- synth: clips of the voices held back from training (training/work/data/val-*.npz), when
  that data exists.
Each set is padded with 1 s of quiet room and optionally mixed with noise by the reference
tool make_variants.py; each engine writes facewire JSON per clip, and the numbers come from
the reference scorer lipsync_score.py itself (imported from --tools), so they are the
scorer's numbers by construction; on the real set the scorer is also run as a command and
its printed numbers must equal the imported ones. Writes training/RESULTS.md
(--write-results) and a JSON of every number.

Labiodental metric (ours; the reference scorer has none). ARKit has no "lower lip to upper
teeth" shape, so rigs make /f v/ from mouthRollLower (lower lip rolled in, under the teeth)
and mouthUpperUp (upper lip raised, teeth shown) with the jaw nearly shut. Per frame,
lip_to_teeth = max(mouthRollLower, mean(mouthUpperUpLeft, mouthUpperUpRight)). An /f v/
segment (with the scorer's one frame of tolerance) is a hit when some frame has
lip_to_teeth >= LABIO_LIP (0.2) while jawOpen <= LABIO_JAW (0.2); `labiodental` is the hit
share. `labiodental_auc` = P(max lip_to_teeth over an /f v/ segment > the same over another
consonant segment), ties half, so a model that shows the gesture everywhere scores 0.5.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from facewire.arkit import ARKIT_NAMES
from facewire.engines.base import Engine

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
SHARED = HERE.parent.parent / "shared"  # ../shared beside the checkout
ALIGNMENTS = HERE / "alignments" / "librispeech"
LABIO = {"F", "V"}
LABIO_LIP = 0.2
LABIO_JAW = 0.2
METRICS = (
    "bilabial_closure",
    "open_vowel_opening",
    "rounding_auc",
    "silence_rest",
    "median_abs_lag_frames",
    "mean_lag_frames",
    "closure_vs_open_auc",
    "jitter",
    "labiodental",
    "labiodental_auc",
)
GOALS = {  # issue 14, real speech: clean / 10 dB SNR
    "bilabial_closure": ">= 0.97 / 0.95",
    "open_vowel_opening": ">= 0.95 / 0.95",
    "rounding_auc": ">= 0.90 / 0.88",
    "silence_rest": ">= 0.99 / 0.98",
    "lag": "never late on median, leading by at most 1 frame",
}


def _load_scorer(tools: Path):
    sys.path.insert(0, str(tools))
    spec = importlib.util.spec_from_file_location("lipsync_score", tools / "lipsync_score.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def _write_textgrid(path: Path, xmax: float, phones: list[tuple[float, float, str]]) -> None:
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0",
        f"xmax = {xmax}",
        "tiers? <exists>",
        "size = 1",
        "item []:",
        "    item [1]:",
        '        class = "IntervalTier"',
        '        name = "phones"',
        "        xmin = 0",
        f"        xmax = {xmax}",
        f"        intervals: size = {len(phones)}",
    ]
    for i, (a, b, lab) in enumerate(phones, 1):
        lines += [
            f"        intervals [{i}]:",
            f"            xmin = {a}",
            f"            xmax = {b}",
            f'            text = "{lab}"',
        ]
    path.write_text("\n".join(lines) + "\n")


def build_real_source(dst: Path, speech: Path) -> None:
    """Pair the ARPAbet-aligned real clips as X.wav + X.TextGrid (what the tools expect)."""
    dst.mkdir(parents=True, exist_ok=True)
    ps = speech / "aligned" / "pocketsphinx"
    for tg in sorted(ps.glob("*.TextGrid")):
        for src, name in ((tg, tg.name), (tg.with_suffix(".wav"), tg.stem + ".wav")):
            link = dst / name
            if not link.exists():
                link.symlink_to(src)
    bobby = speech / "aligned" / "praatIO"
    for src, name in (
        (bobby / "bobby.wav", "bobby.wav"),
        (bobby / "bobby_phones.TextGrid", "bobby.TextGrid"),
    ):
        if not (dst / name).exists():
            (dst / name).symlink_to(src)


def build_synth_source(dst: Path, data: Path, per_voice: int) -> None:
    """Write clips of the held-back voices with their phone timings as TextGrids."""
    dst.mkdir(parents=True, exist_ok=True)
    arpabet = {"AX": "AH0", "AH": "AH1", "": ""}
    for f in sorted(data.glob("val-*.npz")):
        d = np.load(f)
        off = d["offsets"]
        for u in range(min(per_voice, len(off) - 1)):
            stem = f"{f.stem[4:]}-{u:02d}"
            pcm = d["pcm"][off[u] : off[u + 1]]
            sel = d["utt"] == u
            phones = [
                (float(a), float(b), arpabet.get(lab, lab))
                for a, b, lab in zip(
                    d["starts"][sel], d["ends"][sel], d["labels"][sel], strict=True
                )
            ]
            sf.write(dst / f"{stem}.wav", pcm, 16000, subtype="PCM_16")
            _write_textgrid(dst / f"{stem}.TextGrid", len(pcm) / 16000, phones)


def build_libri_source(dst: Path, alignments: Path, speech: Path) -> int:
    """Held-out LibriSpeech clips as X.wav (16-bit PCM) + X.TextGrid from training/align.py.

    Pauses ("SIL") become the scorer's silence label "", unconfident words stay "XX".
    Returns the number of clips.
    """
    dst.mkdir(parents=True, exist_ok=True)
    root = speech / "librispeech"
    n = 0
    for f in sorted(alignments.glob("*.json")):
        doc = json.loads(f.read_text())
        if doc["split"] != "eval" or not doc["phones"]:
            continue
        spk, chapter, _ = doc["utt"].split("-")
        flac = root / "test-other" / spk / f"{doc['utt']}.flac"
        if not flac.exists():
            flac = root / "train-clean-100" / f"{doc['utt']}.flac"
        wav = dst / f"{doc['utt']}.wav"
        if not wav.exists():
            pcm, sr = sf.read(flac, dtype="int16")
            sf.write(wav, pcm, sr, subtype="PCM_16")
        xmax = sf.info(wav).duration
        phones = [(a, min(b, xmax), "" if lab == "SIL" else lab) for a, b, lab, _ in doc["phones"]]
        if phones[-1][1] < xmax:
            phones.append((phones[-1][1], xmax, ""))
        _write_textgrid(dst / f"{doc['utt']}.TextGrid", xmax, phones)
        n += 1
    if n == 0:
        raise FileNotFoundError(f"no held-out alignments in {alignments}: run training/align.py")
    return n


def extra_metrics(scorer, pairs: Path, jdir: Path) -> dict:
    """Counts the reference scorer does not print, and the labiodental metric (module doc)."""
    hits = n_labio = 0
    labio_max, other_max = [], []
    n_round = n_spread = 0
    for tg in sorted(pairs.glob("*.TextGrid")):
        jp = jdir / f"{tg.stem}.json"
        if not jp.exists():
            continue
        _, ph = scorer.phones_of(str(tg))
        doc = json.loads(jp.read_text())
        t, fps, _, _, w = scorer.curves(doc)
        ix = {n: i for i, n in enumerate(doc["names"])}
        lip = np.maximum(
            w[:, ix["mouthRollLower"]],
            0.5 * (w[:, ix["mouthUpperUpLeft"]] + w[:, ix["mouthUpperUpRight"]]),
        )
        jaw = w[:, ix["jawOpen"]]
        pad = 1.0 / fps
        for a, b, lab in ph:
            idx = scorer.seg_frames(t, a, b, pad)
            if not len(idx) or lab in ("", "XX"):
                continue
            n_round += lab in scorer.ROUND
            n_spread += lab in scorer.SPREAD
            if lab in LABIO:
                n_labio += 1
                hits += bool(np.any((lip[idx] >= LABIO_LIP) & (jaw[idx] <= LABIO_JAW)))
                labio_max.append(lip[idx].max())
            elif lab not in scorer.VOWELS:
                other_max.append(lip[idx].max())
    return {
        "labiodental": hits / max(n_labio, 1),
        "labiodental_n": n_labio,
        "labiodental_auc": scorer.auc(other_max, labio_max),
        "rounded_n": n_round,
        "spread_n": n_spread,
    }


def check_scorer_cli(tools: Path, pairs: Path, jdir: Path, imported: dict) -> None:
    """Run lipsync_score.py as a command and insist its numbers equal the imported call's."""
    out = subprocess.run(
        [sys.executable, str(tools / "lipsync_score.py"), str(pairs), str(jdir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cli = json.loads(out.strip().splitlines()[-1])
    for k, v in cli.items():
        same = v == imported[k] or (isinstance(v, float) and np.isnan(v) and np.isnan(imported[k]))
        if not same:
            raise RuntimeError(f"scorer mismatch on {pairs.name} {k}: cli {v} vs {imported[k]}")


def make_engine(name: str, model: str | None) -> Engine:
    if name in ("onnx", "onnx-fp32"):  # onnx: the engine's default (int8 when present)
        from facewire.engines.onnx import OnnxEngine

        precision = "fp32" if name == "onnx-fp32" else "auto"
        return OnnxEngine(fps=30.0, model_path=model, precision=precision)
    if name == "dsp":
        from facewire.engines.dsp import DspEngine

        return DspEngine(fps=30.0)
    raise ValueError(name)


def run_engine(engine: Engine, src: Path, dst: Path) -> None:
    """facewire JSON for every wav of src, streamed in 100 ms chunks as the daemon would."""
    dst.mkdir(parents=True, exist_ok=True)
    for wav in sorted(src.glob("*.wav")):
        pcm, sr = sf.read(wav, dtype="float32")
        if pcm.ndim > 1:
            pcm = pcm.mean(axis=1)
        if sr != 16000:
            pcm = soxr.resample(pcm, sr, 16000).astype(np.float32)
        st = engine.new_stream()
        rows = [
            engine.process([(st, pcm[i : i + 1600], i + 1600 >= len(pcm))])[0]
            for i in range(0, len(pcm), 1600)
        ]
        w = np.concatenate(rows)
        doc = {
            "fps": engine.fps,
            "names": list(ARKIT_NAMES),
            "timecodes": (np.arange(len(w)) / engine.fps).tolist(),
            "weights": np.round(w.astype(np.float64), 5).tolist(),
        }
        (dst / f"{wav.stem}.json").write_text(json.dumps(doc))


def markdown(results: dict, sets: list[str]) -> str:
    head = (
        "| set | engine | closure | opening | rounding AUC | silence | lag mean (median abs) | "
        "closure-vs-open AUC | labiodental | labiodental AUC | jitter |"
    )
    lines = [head, "|" + "---|" * 11]
    for s in sets:
        for eng, r in results.get(s, {}).items():
            lines.append(
                f"| {s} | {eng} | {r['bilabial_closure']:.3f} | "
                f"{r['open_vowel_opening']:.3f} | {r['rounding_auc']:.3f} | "
                f"{r['silence_rest']:.3f} | {r['mean_lag_frames']:+.1f} "
                f"({r['median_abs_lag_frames']:.0f}) | "
                f"{r['closure_vs_open_auc']:.3f} | {r['labiodental']:.3f} | "
                f"{r['labiodental_auc']:.3f} | {r['jitter']:.4f} |"
            )
    counts = [
        "",
        "| set | clips | bilabials | open vowels | rounded | spread | /f v/ | silence frames |",
        "|" + "---|" * 8,
    ]
    for s in sets:
        if results.get(s):
            r = next(iter(results[s].values()))
            counts.append(
                f"| {s} | {r['clips']} | {r['bilabial_n']} | {r['open_vowel_n']} | "
                f"{r['rounded_n']} | {r['spread_n']} | {r['labiodental_n']} | "
                f"{r['silence_frames']} |"
            )
    goals = ", ".join(f"{k} {v}" for k, v in GOALS.items())
    return (
        "\n".join(lines + counts)
        + "\n\nlag: the scorer's per-clip lag in frames (negative: the mouth leads the "
        "sound), mean over clips and, in brackets, the median of |lag|.\n\nTargets on real "
        "speech (clean / 10 dB): " + goals + ".\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="onnx,onnx-fp32,dsp,lip_flap")
    ap.add_argument("--model", default=None, help="ONNX file (default: the committed model)")
    ap.add_argument("--tools", default=str(SHARED / "tools"))
    ap.add_argument("--speech", default=str(SHARED / "data" / "speech"))
    ap.add_argument("--data", default=str(WORK / "data"))
    ap.add_argument("--out", default=str(WORK / "eval"))
    ap.add_argument("--alignments", default=str(ALIGNMENTS))
    ap.add_argument("--sets", default="real,libri,synth", help="any of real, libri, synth")
    ap.add_argument("--per-voice", type=int, default=8)
    ap.add_argument("--write-results", action="store_true", help="write training/RESULTS.md")
    args = ap.parse_args()
    tools, out = Path(args.tools), Path(args.out)
    scorer = _load_scorer(tools)
    wanted = args.sets.split(",")
    unknown = set(wanted) - {"real", "libri", "synth"}
    if unknown:
        raise SystemExit(f"unknown --sets {sorted(unknown)}: choose from real, libri, synth")
    sets = []
    if "real" in wanted:
        build_real_source(out / "src-real", Path(args.speech))
        sets.append("real")
    if "libri" in wanted:
        build_libri_source(out / "src-libri", Path(args.alignments), Path(args.speech))
        sets.append("libri")
    if "synth" in wanted and any(Path(args.data).glob("val-*.npz")):
        build_synth_source(out / "src-synth", Path(args.data), args.per_voice)
        sets.append("synth")
    results: dict[str, dict] = {}
    for s in sets:
        for variant in ("clean", "10"):
            pairs = out / f"{s}-{'clean' if variant == 'clean' else '10db'}"
            if not pairs.exists():
                subprocess.run(
                    [
                        sys.executable,
                        str(tools / "make_variants.py"),
                        str(out / f"src-{s}"),
                        str(pairs),
                        variant,
                    ],
                    check=True,
                )
            key = pairs.name
            results[key] = {}
            for name in args.engines.split(","):
                jdir = out / f"json-{name}-{key}"
                if name == "lip_flap":
                    subprocess.run(
                        [sys.executable, str(tools / "lip_flap.py"), str(pairs), str(jdir)],
                        check=True,
                    )
                else:
                    try:
                        engine = make_engine(name, args.model)
                    except ImportError as err:
                        print(f"skipping {name}: {err}", flush=True)
                        continue
                    run_engine(engine, pairs, jdir)
                r = scorer.score(str(pairs), str(jdir))
                if s == "real":
                    check_scorer_cli(tools, pairs, jdir, r)
                r |= extra_metrics(scorer, pairs, jdir)
                results[key][name] = {k: r[k] for k in METRICS} | {
                    "rounded_n": r["rounded_n"],
                    "spread_n": r["spread_n"],
                    "labiodental_n": r["labiodental_n"],
                    "clips": r["clips"],
                    "bilabial_n": r["bilabial_n"],
                    "open_vowel_n": r["open_vowel_n"],
                    "silence_frames": r["silence_frames"],
                }
                print(key, name, json.dumps(results[key][name]), flush=True)
    order = [k for s in sets for k in (f"{s}-clean", f"{s}-10db")]
    table = markdown(results, order)
    print(table)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    if args.write_results:
        (HERE / "RESULTS.md").write_text(
            "# Lip-sync evaluation\n\nWritten by `python -m training.evaluate --write-results`; "
            "numbers from ../shared/tools/lipsync_score.py on facewire JSON streamed in "
            "100 ms chunks at 30 fps (labiodental: training/evaluate.py, see its docstring). "
            "real = pocketsphinx (5 LibriVox clips) + praatIO bobby; libri = held-out "
            "LibriSpeech speakers (all 10 of test-other, every 6th of train-clean-100) with "
            "pocketsphinx pseudo-alignments, confident words only (training/align.py); synth "
            "= held-back voices (never trained on); each clip padded with 1 s of quiet room; "
            "10db = white+pink noise at 10 dB SNR (make_variants.py).\n\n"
            + (
                ""
                if "synth" in sets
                else "synth: not in this run (no held-back synthetic data in --data; "
                "training/run_all.sh makes it).\n\n"
            )
            + table
        )


if __name__ == "__main__":
    main()
