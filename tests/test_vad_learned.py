"""The learned VAD: the committed model loads, and a stream's flags (and the probabilities
under them) do not depend on its chunking or on which streams share a batched call."""

from __future__ import annotations

import numpy as np
import pytest

from facewire import config
from facewire.engines.base import frames_for
from facewire.engines.features import frame_windows
from facewire.engines.vad import check_vad, make_vad
from facewire.engines.vad_learned import (
    MODEL_PATH,
    LearnedVadModel,
    LearnedVoiceActivity,
    load_model,
    log_mel,
    score_all,
)


@pytest.fixture(scope="module")
def signal(example_pcm) -> np.ndarray:
    pcm, rate = example_pcm
    assert rate == 16_000
    silence = np.zeros(12_000, np.float32)
    noise = np.random.default_rng(1).standard_normal(8_000).astype(np.float32) * 0.01
    return np.concatenate([silence, pcm, noise, silence, pcm[:20_000], silence])


def run(sig: np.ndarray, chunk: int, companions: int, fps: float = 30.0, seed: int = 0):
    """Flags of `sig` fed in `chunk`s, scored in one call with `companions` other streams."""
    rng = np.random.default_rng(seed)
    vad = LearnedVoiceActivity(fps)
    others = [LearnedVoiceActivity(fps) for _ in range(companions)]
    out = []
    for pos in range(0, len(sig), chunk):
        vad.push(sig[pos : pos + chunk])
        for other in others:  # different lengths and content, so the batch is ragged
            n = int(rng.integers(0, 2 * chunk + 1))
            other.push(rng.standard_normal(n).astype(np.float32) * rng.uniform(0, 0.3))
        score_all(others + [vad] if seed % 2 else [vad] + others)
        out.append(vad.take())
    vad.finish()
    score_all([vad, *others])
    out.append(vad.take())
    return np.concatenate(out)


def test_committed_model_loads_with_its_decision_constants():
    m = LearnedVadModel(MODEL_PATH)
    assert 0 <= m.lookahead <= 10 and 0 <= m.shift <= 10
    assert 0 < m.threshold < 1 and m.hangover > 0
    states = [np.stack([s] * 3) for s in m.initial]
    probs, after = m.run(np.tile(m.silence, (3, 7, 1)), np.array([7, 7, 2]), states)
    assert probs.shape == (3, 7) and np.all((probs >= 0) & (probs <= 1))
    assert not (probs >= m.threshold).any(), "silence is not speech"
    for layer, state in zip(after, m.initial, strict=True):
        np.testing.assert_allclose(layer[0], state, rtol=1e-4, atol=1e-5)  # silence stays silent


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_flags_do_not_depend_on_chunking_or_batch_companions(signal, fps):
    whole = run(signal, len(signal), 0, fps)
    assert len(whole) == frames_for(len(signal), fps)
    assert whole.any() and not whole.all()
    for chunk, companions, seed in [(160, 0, 0), (320, 3, 1), (593, 17, 2), (7_777, 40, 3)]:
        flags = run(signal, chunk, companions, fps, seed)
        np.testing.assert_array_equal(flags, whole, err_msg=f"chunk {chunk}, +{companions}")


def test_probabilities_are_the_same_bits_in_any_split_and_batch(signal):
    """The network's numbers themselves, so no flag can flip at the threshold."""
    m = load_model()
    count = (len(signal) - 200) // 160 + 1
    windows = frame_windows(signal, 0, count)
    feats = log_mel(windows)
    whole, _ = m.run(feats[None], np.array([count]), [s[None] for s in m.initial])
    rng = np.random.default_rng(0)
    for split in (1, 2, 3, 7, 64):
        np.testing.assert_array_equal(
            np.concatenate([log_mel(windows[i : i + split]) for i in range(0, count, split)]),
            feats,
        )
        states, got, pos = [s[None] for s in m.initial], [], 0
        while pos < count:
            n = min(split, count - pos)
            others = int(rng.integers(0, 9))  # companions with other audio and lengths
            mel = rng.normal(-5, 3, (others + 1, split, 80)).astype(np.float32)
            mel[0, :n] = feats[pos : pos + n]
            counts = np.concatenate([[n], rng.integers(1, split + 1, others)])
            batch = [
                np.concatenate([s, np.repeat(i[None], others, axis=0)])
                for s, i in zip(states, m.initial, strict=True)
            ]
            probs, after = m.run(mel, counts, batch)
            got.append(probs[0, :n])
            states = [a[:1] for a in after]
            pos += n
        np.testing.assert_array_equal(np.concatenate(got), whole[0], err_msg=f"split {split}")


def test_speech_is_speaking_silence_is_not(signal):
    flags = run(signal, 320, 0)
    t = np.arange(len(flags)) / 30.0
    assert not flags[t < 0.6].any(), "leading digital silence"
    assert flags[(t > 1.0) & (t < 3.0)].mean() > 0.8, "the example's speech"
    assert not flags[t > len(signal) / 16_000 - 0.5].any(), "trailing silence, past the hangover"
    zeros = run(np.zeros(40_000, np.float32), 1_234, 2)
    assert len(zeros) == frames_for(40_000, 30.0) and not zeros.any()


def test_known_frames_grow_and_take_respects_limit(signal):
    vad = LearnedVoiceActivity(30.0)
    assert vad.frames_known() == 0
    vad.push(signal[:32_000])
    known = vad.frames_known()
    assert 0 < known < frames_for(32_000, 30.0)  # the lookahead holds the last few back
    first = vad.take(limit=10)
    assert len(first) == 10 and vad.next_frame == 10
    assert len(vad.take()) == known - 10
    with pytest.raises(IndexError):
        vad.speaking(0)  # released by take()
    vad.finish()
    assert vad.frames_known() == frames_for(32_000, 30.0)
    with pytest.raises(RuntimeError):
        vad.push(np.zeros(10, np.float32))


def test_make_vad_and_check_vad_name_the_choices(tmp_path):
    assert isinstance(make_vad("learned", 30.0), LearnedVoiceActivity)
    assert make_vad(str(MODEL_PATH), 30.0).model is load_model(str(MODEL_PATH))
    with pytest.raises(ValueError, match="choose one of learned, silero, energy"):
        make_vad("webrtc", 30.0)
    with pytest.raises(ValueError, match="no such file"):
        check_vad(str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot load"):
        check_vad(str(bad))


@pytest.mark.parametrize(
    "value,fragment",
    [
        ("webrtc", "daemon.vad='webrtc': choose one of learned, silero, energy"),
        ("nowhere/vad.npz", "daemon.vad='nowhere/vad.npz': no such file"),
    ],
)
def test_bad_vad_is_a_config_error(tmp_path, value, fragment):
    p = tmp_path / "c.yaml"
    p.write_text(f"daemon:\n  vad: {value}\n")
    with pytest.raises(config.ConfigError, match=fragment.replace(".", r"\.")):
        config.load(p)
    p.write_text(f"daemon:\n  vad: {MODEL_PATH}\n")
    assert config.load(p).daemon.vad == str(MODEL_PATH)
