"""Write engines/models/MODEL_CARD.md from the model's JSON sidecar, the evaluation results
and the cost benchmark, so every number in the card comes from a file a command wrote.

    python -m training.model_card [--bench training/work/engine_cost-onnx.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from training.evaluate import markdown

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent / "engines" / "models"

LICENCES = {
    "flite": (
        "CMU Flite voices (kal/kal16 diphone; awb, rms, slt from CMU ARCTIC; VOICE@N = the "
        "same voice with other sentences, rates and pitches)",
        "CMU/Edinburgh permissive licence (use, modify, sell; keep notice)",
        "yes",
    ),
    "espeak": (
        "espeak-ng formant voices (accents en, en-us, en-us-nyc, en-gb-scotland, "
        "en-gb-x-gbclan, en-gb-x-gbcwmd, en-029, en-gb-x-rp; +f/+m/+klatt variants)",
        "GPL-3.0-or-later (program and voice data; the generated audio is not a covered work)",
        "yes",
    ),
    "mbrola": (
        "MBROLA us1/us2/us3/en1 via espeak-ng --pho",
        "MBROLA voice licence: synthesis with MBROLA only; not to be sold or put in "
        "a sold product without the owner's permission",
        "no (validation only)",
    ),
}

NOISE_KINDS = {
    "white": "white",
    "pink": "pink",
    "coloured": "coloured 1/f^0..2.5 high-passed at 20-150 Hz",
    "colmix": "white + coloured",
    "babble": "babble (3-6 other training utterances)",
    "hum": "mains hum (50/60 Hz + harmonics)",
    "mix": "white+pink",
}


def augmentations(meta: dict) -> str:
    """The augmentation chain of training/augment.py, with the noise settings of this run."""
    snr = meta.get("snr_db", [0, 30])
    kinds = meta.get("noise_kinds", "white,pink,babble,hum,mix").split(",")
    return (
        "reverberation (synthetic room responses, RT60 0.15-0.9 s, wet mix 0.3-1) p=0.4; "
        "sample-rate round trip (8/11.025/22.05/44.1 kHz, soxr) p=0.2; band limiting p=0.25 "
        "(telephone 300-3400 Hz, or random 0-200 Hz .. 3-7.5 kHz band); speech level -45..-8 "
        f"dBFS (about +-20 dB around -25 dBFS); additive noise p={meta.get('noise_p', 0.75)} "
        f"at {snr[0]:g}-{snr[1]:g} dB SNR (against the loud half of the speech), one of: "
        f"{', '.join(NOISE_KINDS.get(k, k) for k in kinds)}; "
        "dither -95..-65 dBFS always (no digital-zero silence); DC offset +-0.05 p=0.15; hard "
        "clipping at 0-12 dB below peak p=0.1; leading or trailing silence (0.2-1.5 s) "
        f"p={meta.get('silence_p', 0.25)}. "
        "Synthesis varies speaking rate (flite duration_stretch 0.75-1.4, espeak 120-230 wpm) "
        "and pitch (flite kal f0 90-160 Hz, espeak pitch 20-80, range 30-80)."
    )


def _gaps(results: dict) -> list[str]:
    """Plain statements of where the model misses the issue's goals on real speech."""
    out = []
    clean, noisy = (
        results.get("real-clean", {}).get("onnx"),
        results.get("real-10db", {}).get("onnx"),
    )
    if not clean or not noisy:
        return ["no real-speech results for the model"]
    limits = {
        "bilabial_closure": 0.95,
        "open_vowel_opening": 0.95,
        "rounding_auc": 0.90,
        "silence_rest": 0.98,
    }
    for name, r in (("clean", clean), ("10 dB", noisy)):
        for k, lo in limits.items():
            if r[k] < lo:
                out.append(f"{k} {r[k]:.4f} < {lo} on real speech ({name})")
        if r["median_abs_lag_frames"] > 1:
            out.append(f"|lag| {r['median_abs_lag_frames']:.0f} frames > 1 ({name})")
    for k in limits:
        if clean[k] - noisy[k] > 0.05:
            out.append(f"{k} drops {clean[k] - noisy[k]:.3f} (> 0.05) from clean to 10 dB")
    return out or ["none: every goal is met on the real clips"]


def _stage_line(m: dict) -> str:
    noise = f"noise p={m.get('noise_p', 0.75)}, SNR {m.get('snr_db', [0, 30])} dB"
    return (
        f"{m['steps_run']} steps, lr {m.get('lr', 2e-3)}, seed {m['seed']}, {noise}, "
        f"kinds {m.get('noise_kinds', 'white,pink,babble,hum,mix')}, silence weight "
        f"{m.get('rest_weight', 0.0)}, closure hinge {m.get('closure_weight', 0.0)}, "
        f"silence hinge {m.get('rest_hinge', 0.0)}, inserted silence p="
        f"{m.get('silence_p', 0.25)}, output sharpening k={m.get('aperture_sharpen', 1.0)}: "
        f"{m['train_minutes']} min"
    )


def _stages(meta: dict) -> str:
    """One line per training stage, following the --init chain of sidecars."""
    lines = [f"- final stage: {_stage_line(meta)}"]
    init = meta.get("init")
    while init:
        side = Path(init).with_suffix(".json")
        if not side.exists():
            lines.insert(0, f"- earlier stage: {init} (sidecar missing)")
            break
        m = json.loads(side.read_text())
        lines.insert(
            0,
            f"- stage from scratch: {_stage_line(m)}"
            if not m.get("init")
            else f"- stage: {_stage_line(m)}",
        )
        init = m.get("init")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=str(MODELS / "lipsync.onnx"))
    ap.add_argument("--results", default=str(HERE / "work" / "eval" / "results.json"))
    ap.add_argument("--bench", default=None)
    ap.add_argument(
        "--notes", default=str(HERE / "CARD_NOTES.md"), help="markdown file appended at the end"
    )
    args = ap.parse_args()
    model = Path(args.model)
    meta = json.loads(model.with_suffix(".json").read_text())
    results = json.loads(Path(args.results).read_text())
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    engines_used = sorted({v.split(":")[0] for v in meta["train_voices"] + meta["val_voices"]})
    lic = "\n".join(
        f"| {LICENCES[e][0]} | {LICENCES[e][1]} | {LICENCES[e][2]} | "
        f"{', '.join(v for v in meta['train_voices'] if v.startswith(e)) or '-'} | "
        f"{', '.join(v for v in meta['val_voices'] if v.startswith(e)) or '-'} |"
        for e in engines_used
    )
    order = [k for k in ("real-clean", "real-10db", "synth-clean", "synth-10db") if k in results]
    bench = ""
    if args.bench and Path(args.bench).exists():
        rows = json.loads(Path(args.bench).read_text())["rows"]
        bench = (
            "| streams | CPU s per audio s per stream | features | model |\n"
            "|---|---|---|---|\n"
            + "\n".join(
                f"| {r['streams']} | {r['cpu_s_per_audio_s']:.4f} | "
                f"{r.get('features_s_per_audio_s', float('nan')):.4f} | "
                f"{r.get('model_s_per_audio_s', float('nan')):.4f} |"
                for r in rows
            )
            + "\n\n(`python bench/engine_cost.py --engine onnx`, one thread, 20 ms chunks, "
            "measured on the shared 2-core build machine while other jobs ran.)\n"
        )
    la = (
        f"{meta['lookahead_frames']} feature frames (output j = face of frame j - "
        f"{meta['lookahead_frames']}); OnnxEngine.lookahead_s = model lookahead + 12.5 ms half "
        "window + 10 ms interpolation + 10 ms block wait"
    )
    size_mb, dil, s = model.stat().st_size / 1e6, meta["dilations"], meta["state_size"]
    stages = _stages(meta)
    notes = Path(args.notes).read_text() if Path(args.notes).exists() else ""

    def counts(key: str) -> str:
        r = results.get(key, {}).get("onnx")
        if not r:
            return "-"
        return (
            f"{r['clips']} clips, {r['bilabial_n']} bilabials, {r['open_vowel_n']} open "
            f"vowels, {r['silence_frames']} silence frames"
        )

    gaps = "\n".join(f"- {g}" for g in _gaps(results))
    card = f"""# facewire lip-sync model `lipsync.onnx`

Causal dilated 1-D CNN: 80 log-mel bands (facewire.engines.features, 10 ms hop) in, the 52
ARKit blendshapes out (14 driven by the teacher, mirrored pairs shared; the other 38 are
constant 0), sigmoid outputs in [0, 1].

| | |
|---|---|
| file | `engines/models/lipsync.onnx` ({size_mb:.2f} MB), sidecar `lipsync.json` |
| sha256 | `{sha}` |
| parameters | {meta["params"]:,} (width {meta["width"]}, dilations {dil}, kernel 3) |
| I/O | `features` [B,T,80], `state` [B,{s}] -> `weights` [B,T,52], `state_out` [B,{s}] |
| lookahead | {la} |
| normalisation | fixed training mean/std, folded into the first layer |
| ops | MatMul, Add, Relu, Sigmoid, Concat, Slice, Reshape (opset 17), time-major |

## Data

{meta["train_hours_audio"]:.2f} h of synthetic, phone-timed speech for training and
{meta["val_hours_audio"]:.2f} h from held-back voices for validation (never trained on).
Text is generated (training/texts.py: templates, questions, lists, numbers, pauses over word
lists covering every English phoneme); no copyrighted corpus.

| voices | licence | commercial use | trained on | validation only |
|---|---|---|---|---|
{lic}

The shipped weights depend only on flite and espeak-ng voices, whose licences allow commercial
use. The MBROLA voices (non-commercial) were used only for validation: the validation loss
picked the checkpoint and the held-back evaluation picked the output sharpening (CARD_NOTES
below); no MBROLA audio was trained on.

Augmentation (training/augment.py, fresh per crop): {augmentations(meta)}

Teacher: training/TEACHER.md (Cohen-Massaro dominance blending, anticipatory rounding,
loudness scaling, lips meet on every /p b m/).

## Training

`training/run_all.sh` (synth -> train -> evaluate -> card; fixed seeds, one thread).
What produced the committed weights (batch {meta["batch"]} crops of {meta["crop_frames"] / 100:g} s,
AdamW + one-cycle LR, one CPU thread of a shared 2-core machine):

{stages}

Best validation loss (held-back voices, clean + augmented) {meta["best_val_loss"]:.4f}.

## Metrics

Reference scorer ../shared/tools/lipsync_score.py on facewire JSON from OnnxEngine
(streamed, 30 fps), via `python -m training.evaluate`; real = 5 pocketsphinx LibriVox clips +
praatIO bobby, padded with 1 s of quiet room; synth = held-back voices; 10db = white+pink
noise at 10 dB SNR (make_variants.py). dsp = engines/dsp.py, lip_flap = the loudness baseline.

{markdown(results, order)}
Clip counts: real {counts("real-clean")}; synth {counts("synth-clean")}. The real set is
small, so one bilabial is {100 / max(1, results["real-clean"]["onnx"]["bilabial_n"]):.1f} points
of closure. Also a goal: no metric more than 0.05 worse at 10 dB. Where it falls short:

{gaps}

## Cost

{bench or "not measured"}
{notes}
"""
    (MODELS / "MODEL_CARD.md").write_text(card)
    print(f"wrote {MODELS / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
