"""VoiceActivity: speaking flags per animation frame from Silero VAD, independent of chunking."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from facewire.engines.base import frames_for
from facewire.engines.vad import CHUNK_SAMPLES, VoiceActivity
from tests.conftest import SPEECH

SPEECH_DIR = Path(os.environ.get("FACEWIRE_SPEECH_DIR", SPEECH / "aligned" / "pocketsphinx"))
CLIP = "sense_and_sensibility_01_austen_64kb-0870"
PAD_S = 1.0


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Real speech with 1 s of digital silence each side, and its word intervals (s)."""
    wav = SPEECH_DIR / f"{CLIP}.wav"
    if not wav.exists():
        pytest.skip(f"speech corpus not found at {SPEECH_DIR} (set FACEWIRE_SPEECH_DIR)")
    pcm, sr = sf.read(wav, dtype="float32", always_2d=True)
    pad = np.zeros(int(PAD_S * 16_000), dtype=np.float32)
    pcm_f32 = np.concatenate([pad, soxr.resample(pcm.mean(1), sr, 16_000), pad])
    doc = json.loads((SPEECH_DIR / f"{CLIP}.json").read_text())
    words = [
        (w["b"] + PAD_S, w["b"] + w["d"] + PAD_S) for w in doc["w"] if not w["t"].startswith("<")
    ]
    return pcm_f32.astype(np.float32), words


def flags_of(pcm_f32: np.ndarray, fps: float, chunk: int) -> np.ndarray:
    vad, out = VoiceActivity(fps=fps), []
    for i in range(0, len(pcm_f32), chunk):
        vad.push(pcm_f32[i : i + chunk])
        out.append(vad.take())
    vad.finish()
    out.append(vad.take())
    return np.concatenate(out)


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_flags_do_not_depend_on_chunking(speech, fps: float) -> None:
    pcm_f32 = speech[0][:60_000]
    whole = flags_of(pcm_f32, fps, len(pcm_f32))
    assert len(whole) == frames_for(len(pcm_f32), fps)
    for chunk in (160, 1000, 7777):
        np.testing.assert_array_equal(flags_of(pcm_f32, fps, chunk), whole)


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_speaking_in_words_not_in_silence(speech, fps: float) -> None:
    pcm_f32, words = speech
    flags = flags_of(pcm_f32, fps, 4_000)
    t = np.arange(len(flags)) / fps
    in_words = np.zeros(len(flags), dtype=bool)
    for a, b in words:
        in_words |= (t >= a) & (t < b)
    assert flags[in_words].mean() > 0.9
    lead_in = t < PAD_S - 0.1
    tail = t > words[-1][1] + 0.4  # past the hangover
    assert not flags[lead_in].any()
    assert not flags[tail].any()


def test_zeros_are_never_speech() -> None:
    flags = flags_of(np.zeros(40_000, np.float32), 30.0, 1_234)
    assert len(flags) == frames_for(40_000, 30.0)
    assert not flags.any()


def test_hangover_bridges_short_gaps(speech) -> None:
    pcm_f32, words = speech
    vad = VoiceActivity(fps=30.0, hangover_s=0.2)
    vad.push(pcm_f32)
    vad.finish()
    flags = vad.take()
    t = np.arange(len(flags)) / 30.0
    end = words[-1][1]
    # still on just after the last word, off once the hangover has run out
    assert flags[(t > end) & (t < end + 0.1)].all()
    assert not flags[t > end + 0.45].any()


def test_known_frames_grow_with_audio_and_end_exactly() -> None:
    vad = VoiceActivity(fps=30.0)
    assert vad.frames_known() == 0
    vad.push(np.zeros(CHUNK_SAMPLES - 1, np.float32))
    assert vad.frames_known() == 0  # no chunk complete yet
    vad.push(np.zeros(1, np.float32))
    known = vad.frames_known()
    assert known == 1  # frame 0 (t = 0) lies in chunk 0; frame 1 (t = 33 ms) does not
    assert vad.speaking(0) is False
    with pytest.raises(IndexError):
        vad.speaking(known)
    vad.push(np.zeros(1_000, np.float32))
    vad.finish()
    assert vad.frames_known() == frames_for(CHUNK_SAMPLES + 1_000, 30.0)
    assert len(vad.take()) == frames_for(CHUNK_SAMPLES + 1_000, 30.0)
    with pytest.raises(IndexError):
        vad.speaking(0)  # released by take()
    with pytest.raises(RuntimeError):
        vad.push(np.zeros(10, np.float32))


def test_take_respects_limit(speech) -> None:
    vad = VoiceActivity(fps=30.0)
    vad.push(speech[0][:32_000])
    first = vad.take(limit=10)
    rest = vad.take()
    assert len(first) == 10
    assert len(first) + len(rest) == vad.frames_known()
