"""Synthesise phone-timed speech with the local TTS engines (flite, espeak-ng, MBROLA).

Writes one .npz per voice under training/work/data/: 16 kHz int16 audio of all its utterances
concatenated, utterance offsets, and canonical phone intervals (start s, end s, label).
Every engine reports exact phone timings; the quirks handled here (see MODEL-NOTES.md):
flite -psdur prints END times and its last pause can run past the wav; MBROLA boundaries are
about 10 ms late and its silence is digital zero (dithered later, in augmentation); espeak-ng
reports phoneme START positions through its library callback (~15 ms late).

    python -m training.synth --minutes-per-voice 12 [--voices flite:slt,espeak:en-us+f2]
"""

from __future__ import annotations

import argparse
import ctypes
import multiprocessing
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from training.phones import canonical
from training.texts import sentence

WORK = Path(__file__).resolve().parent / "work"
SR = 16_000

# Voices used for training: their licences allow commercial use (see MODEL_CARD.md).
TRAIN_VOICES = [
    "flite:kal",
    "flite:kal16",
    "flite:rms",
    "flite:slt",
    "espeak:en-us",
    "espeak:en-us+f2",
    "espeak:en-us+m3",
    "espeak:en+f4",
    "espeak:en-gb-scotland+m2",
    "espeak:en-029+f1",
    # Second batch (issue 3 follow-up): more espeak-ng accents and voice variants (never the
    # held-back en-gb-x-rp accent or the f3 variant), and more text for flite's ARCTIC voices.
    "espeak:en-us+m1",
    "espeak:en-us+m2",
    "espeak:en-us+m4",
    "espeak:en-us+m5",
    "espeak:en-us+m6",
    "espeak:en-us+m7",
    "espeak:en-us+m8",
    "espeak:en-us+f1",
    "espeak:en-us+f4",
    "espeak:en-us+f5",
    "espeak:en-us+klatt",
    "espeak:en-us+klatt4",
    "espeak:en-us-nyc",
    "espeak:en-us-nyc+f2",
    "espeak:en-gb-x-gbclan+m4",
    "espeak:en-gb-x-gbclan+f1",
    "espeak:en-gb-x-gbcwmd+m5",
    "espeak:en-gb-x-gbcwmd+f2",
    "espeak:en+m1",
    "espeak:en+m6",
    "espeak:en+klatt2",
    "espeak:en-gb-scotland+f5",
    "espeak:en-gb-scotland+klatt3",
    "espeak:en-029+m7",
    "espeak:en-029+klatt5",
    "flite:rms@2",
    "flite:slt@2",
    "flite:rms@3",
    "flite:slt@3",
    "flite:kal16@2",
    "flite:rms@4",
    "flite:slt@4",
]
# Held back entirely for validation (MBROLA voices are non-commercial: never trained on).
VAL_VOICES = [
    "flite:awb",
    "espeak:en-gb-x-rp+f3",
    "mbrola:us1",
    "mbrola:us2",
    "mbrola:us3",
    "mbrola:en1",
]


def _flite(voice: str, text: str, stretch: float, f0: float, rng: random.Random):
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "a.wav")
        args = [
            "flite",
            "-voice",
            voice,
            "-psdur",
            "-t",
            text,
            "-o",
            wav,
            "--setf",
            f"duration_stretch={stretch:.3f}",
        ]
        if voice.startswith("kal"):
            args += ["--setf", f"int_f0_target_mean={f0:.0f}"]
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        pcm, sr = sf.read(wav, dtype="float32")
    dur = len(pcm) / sr
    phones, start = [], 0.0
    for tok in out.split():
        lab, end = tok.rsplit(":", 1)
        end = min(float(end), dur)
        if end > start:
            phones.append((start, end, canonical(lab, "flite")))
        start = end
    return pcm, sr, phones


def _mbrola(voice: str, text: str, rate: int, pitch: int, rng: random.Random):
    inv = "mbrola_en1" if voice == "en1" else "mbrola_us"
    with tempfile.TemporaryDirectory() as tmp:
        pho = subprocess.run(
            [
                "espeak-ng",
                "-v",
                f"mb-{voice}",
                "-s",
                str(rate),
                "-p",
                str(pitch),
                "-q",
                "--pho",
                text,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        pho_path, wav = os.path.join(tmp, "a.pho"), os.path.join(tmp, "a.wav")
        Path(pho_path).write_text(pho)
        subprocess.run(
            ["mbrola", "-e", f"/usr/share/mbrola/{voice}/{voice}", pho_path, wav],
            capture_output=True,
            check=True,
        )
        pcm, sr = sf.read(wav, dtype="float32")
    dur = len(pcm) / sr
    phones, t = [], 0.0
    for line in pho.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith(";"):
            continue
        d = float(parts[1]) / 1000.0
        a, b = max(0.0, t - 0.01), min(dur, t + d - 0.01)  # boundaries run ~10 ms late
        if b > a:
            phones.append((a, b, canonical(parts[0], inv)))
        t += d
    return pcm, sr, phones


ESPEAK_SHIFT_S = 0.015


class _Espeak:
    """espeak-ng through its C library, which reports each phoneme's start sample."""

    class _Event(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int),
            ("uid", ctypes.c_uint),
            ("text_position", ctypes.c_int),
            ("length", ctypes.c_int),
            ("audio_position", ctypes.c_int),
            ("sample", ctypes.c_int),
            ("user_data", ctypes.c_void_p),
            ("id", ctypes.c_char * 8),
        ]

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        # AUDIO_OUTPUT_RETRIEVAL = 1, espeakINITIALIZE_PHONEME_EVENTS = 1
        self.sr = self.lib.espeak_Initialize(1, 0, None, 1)
        proto = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(self._Event)
        )
        self._cb = proto(self._callback)
        self.lib.espeak_SetSynthCallback(self._cb)
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, str]] = []

    def _callback(self, wav, n, ev) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while ev[i].type != 0:
            if ev[i].type == 7:  # espeakEVENT_PHONEME
                self.events.append((ev[i].audio_position, ev[i].id.decode("ascii")))
            i += 1
        return 0

    def say(self, voice: str, text: str, rate: int, pitch: int, rng: random.Random):
        self.chunks, self.events = [], []
        self.lib.espeak_SetVoiceByName(voice.encode())
        self.lib.espeak_SetParameter(1, rate, 0)
        self.lib.espeak_SetParameter(3, pitch, 0)
        self.lib.espeak_SetParameter(4, rng.randint(30, 80), 0)
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        pcm = np.concatenate(self.chunks).astype(np.float32) / 32768.0
        dur = len(pcm) / self.sr
        phones = []
        # Its phoneme events run ~15 ms late against the closure silences of /p b/ (measured on
        # the stops' energy minima relative to flite), so shift them earlier.
        marks = [(max(0.0, ms / 1000.0 - ESPEAK_SHIFT_S), lab) for ms, lab in self.events]
        marks.append((dur, "_"))
        if marks[0][0] > 0:
            phones.append((0.0, marks[0][0], ""))
        for (a, lab), (b, _) in zip(marks[:-1], marks[1:], strict=True):
            b = min(b, dur)
            lab = canonical(lab, "espeak")
            if lab == "+" and phones:
                phones[-1] = (phones[-1][0], b, phones[-1][2])
            elif b > a and lab != "+":
                phones.append((a, b, lab))
        return pcm, self.sr, phones


def _say(engine: str, voice: str, text: str, rng: random.Random, espeak: _Espeak | None):
    if engine == "flite":
        return _flite(voice, text, rng.uniform(0.75, 1.4), rng.uniform(90, 160), rng)
    if engine == "mbrola":
        return _mbrola(voice, text, rng.randint(130, 230), rng.randint(25, 75), rng)
    if espeak is None:
        raise ValueError(f"unknown engine {engine!r}")
    return espeak.say(voice, text, rng.randint(120, 230), rng.randint(20, 80), rng)


def synth_voice(spec: str, minutes: float, seed: int, espeak: _Espeak | None) -> dict:
    """Synthesise about `minutes` of speech with one voice; returns arrays for an .npz.

    A spec may end in @N (flite:slt@2): the same voice with other sentences, rates and pitches,
    since the random stream is seeded by the whole spec.
    """
    engine, voice = spec.split(":", 1)
    voice = voice.split("@", 1)[0]
    rng = random.Random(f"{seed}:{spec}")
    pcms, offsets, starts, ends, labels, utt = [], [0], [], [], [], []
    total, skipped = 0.0, []
    while total < minutes * 60:
        text = sentence(rng)
        try:
            pcm, sr, ph = _say(engine, voice, text, rng, espeak)
        except KeyError as err:  # an unknown phone label: skip, and fail if it is common
            skipped.append(str(err))
            if len(skipped) > 5 + 0.02 * len(pcms):
                raise RuntimeError(f"{spec}: too many unknown phone labels: {skipped}") from err
            continue
        if sr != SR:
            pcm = soxr.resample(pcm, sr, SR)
        peak = float(np.abs(pcm).max()) + 1e-9
        pcm16 = np.round(pcm / peak * 0.7 * 32767).astype(np.int16)
        for a, b, lab in ph:
            starts.append(a)
            ends.append(b)
            labels.append(lab)
            utt.append(len(pcms))
        pcms.append(pcm16)
        offsets.append(offsets[-1] + len(pcm16))
        total += len(pcm16) / SR
    return {
        "pcm": np.concatenate(pcms),
        "offsets": np.asarray(offsets, np.int64),
        "starts": np.asarray(starts, np.float64),
        "ends": np.asarray(ends, np.float64),
        "labels": np.asarray(labels),
        "utt": np.asarray(utt, np.int64),
        "voice": np.asarray(spec),
        "skipped": np.asarray(len(skipped)),
    }


def _synth_alone(spec: str, minutes: float, seed: int) -> dict:
    """synth_voice with an espeak-ng instance of its own (run in a fresh process)."""
    espeak = _Espeak() if spec.startswith("espeak:") else None
    return synth_voice(spec, minutes, seed, espeak)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes-per-voice", type=float, default=12.0)
    ap.add_argument("--val-minutes-per-voice", type=float, default=3.0)
    ap.add_argument("--voices", default="", help="comma list overriding the training voices")
    ap.add_argument("--val-voices", default="", help="with --voices: held-back voices")
    ap.add_argument("--out", default=str(WORK / "data"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.voices:
        plan = [(v, args.minutes_per_voice, "train") for v in args.voices.split(",")]
        plan += [(v, args.val_minutes_per_voice, "val") for v in args.val_voices.split(",") if v]
    else:
        plan = [(v, args.minutes_per_voice, "train") for v in TRAIN_VOICES]
        plan += [(v, args.val_minutes_per_voice, "val") for v in VAL_VOICES]
    # One fresh process per voice (maxtasksperchild=1): espeak-ng keeps settings from one
    # voice to the next inside a process, so a voice's audio depended on which voices were
    # synthesised before it (regenerating the data in another order changed 21 of 48 files).
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        for spec, minutes, split in plan:
            name = spec.replace(":", "_").replace("+", "_").replace("@", "_")
            path = out / f"{split}-{name}.npz"
            if path.exists():
                print(f"{path.name}: exists, skipped", flush=True)
                continue
            t0 = time.time()
            arrays = pool.apply(_synth_alone, (spec, minutes, args.seed))
            np.savez(path, **arrays)
            print(
                f"{path.name}: {len(arrays['pcm']) / SR / 60:.1f} min, "
                f"{len(arrays['offsets']) - 1} utterances, {time.time() - t0:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
