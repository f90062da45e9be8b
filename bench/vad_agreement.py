"""How often the cheap energy VAD agrees with Silero, on clean and on noisy real speech.

    python bench/vad_agreement.py [--json out.json]

Both detectors give the `speaking` flag of every 30 fps frame of the bench speech (~28 s of
LibriVox and example speech); agreement is the share of frames with the same flag. Noise is
white noise at a given SNR, and a steady music-like tone mix: the cases where a level-based
detector is known to be fooled.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, speech_16k  # noqa: E402

from facewire.engines.vad import make_vad  # noqa: E402


def flags(kind: str, pcm: np.ndarray) -> np.ndarray:
    vad = make_vad(kind, 30.0)
    vad.push(pcm)
    vad.finish()
    return vad.take()


def conditions(speech: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    power = float(np.mean(speech**2))
    # Pauses: a second of room tone (-60 dBFS) after every 3 s of speech.
    parts = []
    for pos in range(0, len(speech), 48000):
        parts += [speech[pos : pos + 48000], rng.standard_normal(16000).astype("f4") * 1e-3]
    paused = np.concatenate(parts)
    out = {"clean": speech, "clean, with 1 s pauses": paused}
    noise = rng.standard_normal(len(paused)).astype(np.float32)
    out["pauses + white noise 20 dB SNR"] = paused + noise * np.sqrt(power / 100)
    for snr in (20, 10):
        noise = rng.standard_normal(len(speech)).astype(np.float32)
        out[f"white noise {snr} dB SNR"] = speech + noise * np.sqrt(power / 10 ** (snr / 10))
    t = np.arange(len(speech)) / 16000
    tones = sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330)).astype(np.float32)
    out["chord at speech level"] = speech + tones * np.sqrt(power / np.mean(tones**2))
    return out


def measure() -> list[dict]:
    speech = speech_16k()
    rows = []
    for name, pcm in conditions(speech).items():
        a, b = flags("silero", pcm.astype(np.float32)), flags("energy", pcm.astype(np.float32))
        rows.append(
            {
                "condition": name,
                "agreement": round(float((a == b).mean()), 3),
                "silero_speaking": round(float(a.mean()), 3),
                "energy_speaking": round(float(b.mean()), 3),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| audio | frames agreeing | speaking (silero) | speaking (energy) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['condition']} | {r['agreement']:.1%} | {r['silero_speaking']:.0%} "
            f"| {r['energy_speaking']:.0%} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = measure()
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
