"""How often the learned and the energy VAD agree with Silero, and what each costs.

    python bench/vad_agreement.py [--json out.json] [--limit N]

The held-out speech is every `test` clip of training/vad_data.py (speakers the learned VAD
never trained on: LibriSpeech test-other and train-clean-100 speakers, EmoDB actors 03 and
08) plus the evaluation-only recordings (LibriVox/PocketSphinx, praatIO, MFA, the
Audio2Face voice): 28 minutes, 272 clips, 77 speakers, English, German and Mandarin. Each clip
is one stream; a detector gives the `speaking` flag of every 30 fps frame, and agreement is
the share of all frames whose flag equals Silero's. Conditions: clean; 1 s of -60 dBFS room
tone after every 3 s; white noise at 20 and 10 dB SNR; a chord of three sines at speech
level; and a music-like mix at speech level (plucked pentatonic notes, bass, snare and
hi-hat; built differently from the training's synthetic music, as there is no music corpus).

Cost: CPU seconds per audio second per stream, feeding 20 ms chunks to 1 and to 64 streams
at once; the learned VAD scores all streams of a tick in one call (score_all), Silero and
energy score each stream as it is fed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))

from common import machine  # noqa: E402

from facewire.engines.vad import make_vad  # noqa: E402
from facewire.engines.vad_learned import score_all  # noqa: E402
from training.vad_data import SR, clips, evaluation_only, read16k  # noqa: E402

KINDS = ("silero", "energy", "learned")


def flags(kind: str, pcm: np.ndarray) -> np.ndarray:
    vad = make_vad(kind, 30.0)
    vad.push(pcm)
    vad.finish()
    return vad.take()


def bench_music(n: int, rng: np.random.Generator) -> np.ndarray:
    """Plucked pentatonic notes over a bass line, snare on 2 and 4, hi-hat on eighths."""
    t = np.arange(n) / SR
    out = np.zeros(n)
    beat = int(SR * 60 / 110)
    scale = 261.6 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)
    for start in range(0, n, beat // 2):
        seg = np.arange(min(n - start, int(0.6 * SR))) / SR
        f = rng.choice(scale)
        pluck = sum(np.sin(2 * np.pi * f * h * seg) / h**1.5 for h in range(1, 6))
        out[start : start + len(seg)] += pluck * np.exp(-seg * 6)
    bass_f = 65.4 * 2 ** (np.array([0, 5, 7, 3]) / 12)
    bar = 4 * beat
    out += 0.8 * np.sin(2 * np.pi * bass_f[(np.arange(n) // bar) % 4] * t)
    for i, start in enumerate(range(0, n, beat // 2)):
        hit = np.arange(min(n - start, int(0.12 * SR))) / SR
        noise = rng.standard_normal(len(hit))
        if i % 4 == 2:  # snare on beats 2 and 4
            out[start : start + len(hit)] += 1.5 * noise * np.exp(-hit * 30)
        out[start : start + len(hit)] += 0.3 * np.diff(noise, prepend=0) * np.exp(-hit * 80)
    return (out / np.sqrt(np.mean(out**2))).astype(np.float32)


def conditions(speech: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    power = float(np.mean(speech.astype(np.float64) ** 2))
    parts = []
    for pos in range(0, len(speech), 3 * SR):
        parts += [speech[pos : pos + 3 * SR], rng.standard_normal(SR).astype("f4") * 1e-3]
    out = {"clean": speech, "clean, with 1 s pauses": np.concatenate(parts)}
    for snr in (20, 10):
        noise = rng.standard_normal(len(speech)).astype(np.float32)
        out[f"white noise {snr} dB SNR"] = speech + noise * np.sqrt(power / 10 ** (snr / 10))
    t = np.arange(len(speech)) / SR
    tones = sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330)).astype(np.float32)
    out["chord at speech level"] = speech + tones * np.sqrt(power / np.mean(tones**2))
    out["music-like at speech level"] = speech + bench_music(len(speech), rng) * np.sqrt(power)
    return {k: v.astype(np.float32) for k, v in out.items()}


def agreement(limit: int | None) -> tuple[list[dict], dict]:
    held_out = [c for c in clips() if c.split == "test"] + evaluation_only()
    held_out = held_out[:limit] if limit else held_out
    per: dict[str, dict[str, list[np.ndarray]]] = {}
    seconds = 0.0
    for i, clip in enumerate(held_out):
        speech = read16k(clip.path)
        seconds += len(speech) / SR
        for name, pcm in conditions(speech, np.random.default_rng(i)).items():
            row = per.setdefault(name, {k: [] for k in KINDS})
            for kind in KINDS:
                row[kind].append(flags(kind, pcm))
    rows = []
    for name, got in per.items():
        ref = np.concatenate(got["silero"])
        row = {"condition": name, "frames": len(ref)}
        for kind in KINDS:
            f = np.concatenate(got[kind])
            row[f"{kind}_speaking"] = round(float(f.mean()), 3)
            if kind != "silero":
                row[f"{kind}_agreement"] = round(float((f == ref).mean()), 4)
        rows.append(row)
    speakers = len({c.speaker for c in held_out})
    return rows, {"clips": len(held_out), "speakers": speakers, "minutes": round(seconds / 60, 1)}


def cost(kind: str, streams: int, seconds: float, speech: np.ndarray) -> float:
    """CPU s per audio s per stream, 20 ms chunks, every stream fed each tick."""
    chunk = SR // 50
    vads = [make_vad(kind, 30.0) for _ in range(streams)]
    sigs = [np.roll(speech, 7919 * i)[: int(seconds * SR)] for i in range(streams)]
    flags(kind, speech[:SR])  # load the model / library before the clock starts
    start = time.process_time()
    for pos in range(0, int(seconds * SR), chunk):
        for vad, sig in zip(vads, sigs, strict=True):
            vad.push(sig[pos : pos + chunk])
        score_all(vads)
        for vad in vads:
            vad.take()
    return (time.process_time() - start) / (seconds * streams)


def table(rows: list[dict], costs: list[dict]) -> str:
    lines = [
        "| audio | frames | agreeing with Silero: learned | energy "
        "| speaking: silero | learned | energy |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['condition']} | {r['frames']} | {r['learned_agreement']:.1%} "
            f"| {r['energy_agreement']:.1%} | {r['silero_speaking']:.0%} "
            f"| {r['learned_speaking']:.0%} | {r['energy_speaking']:.0%} |"
        )
    lines += ["", "| VAD | CPU s / audio s / stream, 1 stream | 64 streams |", "|---|---|---|"]
    for c in costs:
        lines.append(f"| {c['vad']} | {c['streams_1']:.4f} | {c['streams_64']:.4f} |")
    return "\n".join(lines)


def measure(limit: int | None = None) -> dict:
    """Agreement on the held-out clips (the first `limit`) and each detector's cost."""
    rows, held_out = agreement(limit)
    speech = np.concatenate([read16k(c.path) for c in evaluation_only()[:5]])
    costs = [
        {"vad": k, "streams_1": cost(k, 1, 20.0, speech), "streams_64": cost(k, 64, 4.0, speech)}
        for k in KINDS
    ]
    return {"machine": machine(), "held_out": held_out, "rows": rows, "cost": costs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json")
    ap.add_argument("--limit", type=int, help="only the first N held-out clips (a quick look)")
    args = ap.parse_args()
    out = measure(args.limit)
    print(f"held-out: {out['held_out']}")
    print(table(out["rows"], out["cost"]))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
