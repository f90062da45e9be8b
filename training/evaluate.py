"""Evaluate lip-sync engines on real and held-back synthetic speech, clean and at 10 dB SNR.

    python -m training.evaluate [--engines onnx,dsp,lip_flap] [--model PATH] [--write-results]

Sets: the real ARPAbet-aligned clips of ../shared/data/speech/aligned (pocketsphinx's five
LibriVox utterances and praatIO's bobby) and clips of the voices held back from training
(training/work/data/val-*.npz). Each set is padded with 1 s of quiet room and optionally mixed
with noise by the reference tool make_variants.py; each engine writes facewire JSON per clip,
and the numbers come from the reference scorer lipsync_score.py itself (imported from
--tools), so they are the scorer's numbers by construction. Writes training/RESULTS.md
(--write-results) and a JSON of every number.
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
SHARED = Path(__file__).resolve().parents[2] / "shared"  # beside the repository
METRICS = (
    "bilabial_closure",
    "open_vowel_opening",
    "rounding_auc",
    "silence_rest",
    "median_abs_lag_frames",
    "closure_vs_open_auc",
    "jitter",
)
GOALS = {
    "bilabial_closure": ">= 0.95",
    "open_vowel_opening": ">= 0.95",
    "rounding_auc": ">= 0.90",
    "silence_rest": ">= 0.98",
    "median_abs_lag_frames": "<= 1",
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


def make_engine(name: str, model: str | None) -> Engine:
    if name == "onnx":
        from facewire.engines.onnx import OnnxEngine

        return OnnxEngine(fps=30.0, model_path=model)
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
        "| set | engine | closure | opening | rounding AUC | silence | |lag| | "
        "closure-vs-open AUC | jitter |"
    )
    lines = [head, "|" + "---|" * 9]
    for s in sets:
        for eng, r in results.get(s, {}).items():
            lines.append(
                f"| {s} | {eng} | {r['bilabial_closure']:.3f} | "
                f"{r['open_vowel_opening']:.3f} | {r['rounding_auc']:.3f} | "
                f"{r['silence_rest']:.3f} | {r['median_abs_lag_frames']:.0f} | "
                f"{r['closure_vs_open_auc']:.3f} | {r['jitter']:.4f} |"
            )
    goals = ", ".join(f"{k} {v}" for k, v in GOALS.items())
    return "\n".join(lines) + f"\n\nGoals on real speech: {goals}.\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="onnx,dsp,lip_flap")
    ap.add_argument("--model", default=None, help="ONNX file (default: the committed model)")
    ap.add_argument("--tools", default=str(SHARED / "tools"))
    ap.add_argument("--speech", default=str(SHARED / "data" / "speech"))
    ap.add_argument("--data", default=str(WORK / "data"))
    ap.add_argument("--out", default=str(WORK / "eval"))
    ap.add_argument("--per-voice", type=int, default=8)
    ap.add_argument("--write-results", action="store_true", help="write training/RESULTS.md")
    args = ap.parse_args()
    tools, out = Path(args.tools), Path(args.out)
    scorer = _load_scorer(tools)
    build_real_source(out / "src-real", Path(args.speech))
    sets = ["real"]
    if any(Path(args.data).glob("val-*.npz")):
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
                results[key][name] = {k: r[k] for k in METRICS} | {
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
            "100 ms chunks at 30 fps. real = pocketsphinx (5 LibriVox clips) + praatIO bobby, "
            "padded with 1 s of quiet room; synth = held-back voices (never trained on); "
            "10db = white+pink noise at 10 dB SNR (make_variants.py).\n\n" + table
        )


if __name__ == "__main__":
    main()
