"""DspEngine: the engine contract (frame counts, chunking, range) and mouth behaviour on real
speech (jaw opens on vowels, lips close near bilabials, rest in silence)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from facewire.arkit import ARKIT_INDEX
from facewire.engines.base import frames_for
from facewire.engines.dsp import DspEngine
from tests.conftest import SPEECH
from tests.streaming import stream_in_chunks

SPEECH_DIR = Path(os.environ.get("FACEWIRE_SPEECH_DIR", SPEECH / "aligned" / "pocketsphinx"))
CLIP = "sense_and_sensibility_01_austen_64kb-0870"
BILABIAL = {"P", "B", "M"}
OPEN_VOWELS = {"AA", "AE", "AO", "AW", "AY"}
VOWELS = OPEN_VOWELS | {"IY", "IH", "EY", "EH", "ER", "AH", "UW", "UH", "OW", "OY"}
PAD_S = 1.0


def aperture(w: np.ndarray) -> np.ndarray:
    """(n,) mouth opening as the reference scorer measures it."""
    i = ARKIT_INDEX
    return (
        np.clip(w[:, i["jawOpen"]] - w[:, i["mouthClose"]], 0, None)
        + 0.25 * (w[:, i["mouthLowerDownLeft"]] + w[:, i["mouthLowerDownRight"]])
        + 0.25 * (w[:, i["mouthUpperUpLeft"]] + w[:, i["mouthUpperUpRight"]])
    )


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """A real read-speech clip at 16 kHz with 1 s of quiet room each side, and its phones."""
    wav = SPEECH_DIR / f"{CLIP}.wav"
    if not wav.exists():
        pytest.skip(f"speech corpus not found at {SPEECH_DIR} (set FACEWIRE_SPEECH_DIR)")
    pcm, sr = sf.read(wav, dtype="float32", always_2d=True)
    pcm_f32 = soxr.resample(pcm.mean(1), sr, 16_000).astype(np.float32)
    rng = np.random.default_rng(0)
    pad = np.zeros(int(PAD_S * 16_000), dtype=np.float32)
    pcm_f32 = np.concatenate([pad, pcm_f32, pad])
    pcm_f32 += rng.normal(0, 1e-3, len(pcm_f32)).astype(np.float32)  # -60 dBFS room
    doc = json.loads((SPEECH_DIR / f"{CLIP}.phone.json").read_text())
    phones = [
        (p["b"] + PAD_S, p["b"] + p["d"] + PAD_S, p["t"].upper())
        for word in doc["w"]
        for p in word["w"]
    ]
    return pcm_f32, phones


def run_once(engine: DspEngine, pcm_f32: np.ndarray) -> np.ndarray:
    return engine.process([(engine.new_stream(), pcm_f32, True)])[0]


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_chunking_does_not_change_frames(speech, fps: float) -> None:
    pcm_f32 = speech[0][: 3 * 16_000 + 77]
    engine = DspEngine(fps=fps)
    whole = run_once(engine, pcm_f32)
    assert len(whole) == frames_for(len(pcm_f32), fps)
    for chunk in (160, 1000, 7777):
        np.testing.assert_allclose(stream_in_chunks(engine, pcm_f32, chunk), whole, atol=1e-5)


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
@pytest.mark.parametrize("samples", [0, 1, 159, 160, 533, 16_000, 16_001, 48_123])
def test_exact_frame_count_and_range(fps: float, samples: int) -> None:
    pcm_f32 = np.random.default_rng(samples).normal(0, 0.1, samples).astype(np.float32)
    frames = stream_in_chunks(DspEngine(fps=fps), pcm_f32, 1000)
    assert frames.shape == (frames_for(samples, fps), 52)
    assert frames.dtype == np.float32
    assert np.all((frames >= 0.0) & (frames <= 1.0))


def test_frames_come_out_within_the_stated_lookahead(speech) -> None:
    engine = DspEngine(fps=30.0)
    # next feature frame (10 ms) plus half a 25 ms analysis window
    assert engine.lookahead_s == pytest.approx(0.0225)
    st, fed, emitted = engine.new_stream(), 0, 0
    for i in range(0, 16_000, 160):
        emitted += len(engine.process([(st, speech[0][i : i + 160], False)])[0])
        fed += 160
        # every frame k with k / fps + lookahead <= audio received is out, and no frame of
        # audio not yet received
        due = int(np.floor((fed / 16_000 - engine.lookahead_s) * 30.0 + 1e-9)) + 1
        assert max(due, 0) <= emitted <= frames_for(fed, 30.0)


def test_batched_streams_match_separate_streams(speech) -> None:
    engine = DspEngine()
    pcm = [speech[0][:30_000], speech[0][20_000:52_000] * 0.3, speech[0][60_000:70_000]]
    steps = [3_000, 700, 0]  # uneven news per tick; the third stream is silent until the end
    states = [engine.new_stream() for _ in pcm]
    got: list[list[np.ndarray]] = [[], [], []]
    for tick in range(13):
        final = tick == 12  # the last tick delivers each stream's remaining audio
        entries = [
            (st, x[tick * n :] if final else x[tick * n : (tick + 1) * n], final)
            for st, x, n in zip(states, pcm, steps, strict=True)
        ]
        for out, frames in zip(got, engine.process(entries), strict=True):
            out.append(frames)
    for out, x in zip(got, pcm, strict=True):
        np.testing.assert_allclose(np.concatenate(out), run_once(engine, x), atol=1e-5)


def test_silence_is_the_rest_pose() -> None:
    engine = DspEngine()
    zeros = run_once(engine, np.zeros(32_000, np.float32))
    room = run_once(engine, np.random.default_rng(1).normal(0, 1e-3, 32_000).astype(np.float32))
    assert np.abs(zeros).max() == 0.0
    assert aperture(room).max() < 0.02


def test_gain_hardly_matters(speech) -> None:
    engine = DspEngine()
    loud, quiet = run_once(engine, speech[0]), run_once(engine, speech[0] * 0.01)
    assert np.abs(aperture(loud) - aperture(quiet)).max() < 0.01


def segment_frames(phones, keep, fps: float, pad_s: float = 0.0) -> list[np.ndarray]:
    return [
        np.arange(int(np.ceil((a - pad_s) * fps)), int(np.floor((b + pad_s) * fps)) + 1)
        for a, b, p in phones
        if p in keep
    ]


def test_jaw_opens_on_vowels_and_rests_in_silence(speech) -> None:
    pcm_f32, phones = speech
    ap = aperture(run_once(DspEngine(), pcm_f32))
    vowel = np.concatenate(segment_frames(phones, VOWELS, 30.0))
    silence = np.r_[np.arange(3, 27), np.arange(len(ap) - 27, len(ap) - 3)]
    assert ap[vowel].mean() > 0.3
    assert ap[silence].max() < 0.05
    open_peaks = [ap[idx].max() for idx in segment_frames(phones, OPEN_VOWELS, 30.0)]
    assert np.mean(np.array(open_peaks) >= 0.25) > 0.9


def test_lips_close_near_bilabials(speech) -> None:
    pcm_f32, phones = speech
    w = run_once(DspEngine(), pcm_f32)
    ap = aperture(w)
    segments = segment_frames(phones, BILABIAL, 30.0, pad_s=1 / 30)
    closed = [ap[idx].min() <= 0.1 for idx in segments]
    assert np.mean(closed) > 0.7
    # the nasal murmur of /m/ is shown as pressed, closed lips, not only as a shut jaw
    m_frames = np.concatenate(segment_frames(phones, {"M"}, 30.0))
    assert w[m_frames, ARKIT_INDEX["mouthClose"]].max() > 0.3
