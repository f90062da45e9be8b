"""Emotion estimators (voice -> ten classes) and A2F's emotion post-processing.

The learned network (engines/emotion_model.py, the default) and the hand-set rules
(engines/emotion.py, daemon.emotion_model: rules) share the estimator interface and these
tests of it; each also has tests of what it claims on real acted speech.
"""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from facewire.arkit import EMOTION_INDEX, EMOTION_NAMES
from facewire.config import Config, ConfigError, DaemonSection
from facewire.engines.base import frames_for
from facewire.engines.emotion import EmotionPost
from facewire.engines.emotion_model import (
    EmotionModel,
    EmotionModelError,
    load_emotion_model,
)
from facewire.engines.params import ParamError, StreamParams
from facewire.pipeline import emotion_model

FPS = 30.0
CLAIRE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "speech" / "emotion"
AROUSED = [EMOTION_INDEX[n] for n in ("anger", "amazement", "fear")]
UNTRAINED = [EMOTION_INDEX[n] for n in ("amazement", "cheekiness", "grief", "outofbreath", "pain")]
needs_claire = pytest.mark.skipif(not CLAIRE.is_dir(), reason="Claire clips not available")
MODELS = ("builtin", "rules")


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    return load_emotion_model(request.param)


def load(name: str) -> np.ndarray:
    pcm, rate = sf.read(CLAIRE / name, dtype="float32")
    assert rate == 16_000 and pcm.ndim == 1
    return pcm


def estimate(model, pcm: np.ndarray, chunks: list[int] | None = None) -> np.ndarray:
    """Raw estimates (frames, 10) of a whole stream, popping whatever is ready after each push."""
    est = model.new_stream(FPS)
    out, pos = [], 0
    for size in chunks or [len(pcm)]:
        est.push(pcm[pos : pos + size])
        pos += size
        out.append(est.pop(est.ready()))
    est.finish()
    out.append(est.pop(est.ready()))
    assert est.ready() == 0
    rows = np.concatenate(out)
    assert rows.shape == (frames_for(len(pcm), FPS), 10) and rows.dtype == np.float32
    return rows


def post(raw: np.ndarray, params: StreamParams, chunk: int = 7) -> np.ndarray:
    pp = one_stream(params)
    return np.concatenate([pp.step([0], [len(raw[i : i + chunk])], raw[i : i + chunk])
                           for i in range(0, len(raw), chunk)])  # fmt: skip


def one_stream(params: StreamParams) -> EmotionPost:
    """Post-processing with one stream open, in slot 0."""
    pp = EmotionPost(FPS)
    pp.open(0, params)
    return pp


def const_raw(n: int, **values: float) -> np.ndarray:
    raw = np.zeros((n, 10), np.float32)
    for name, v in values.items():
        raw[:, EMOTION_INDEX[name]] = v
    return raw


def plain(**emotion: float) -> StreamParams:
    """No preferred-emotion mix, full strength, no smoothing, unless overridden."""
    base = {"enable_preferred_emotion": 0, "emotion_strength": 1.0, "live_blend_coef": 0.0,
            "live_transition_time": 0.0, "max_emotions": 6}  # fmt: skip
    return StreamParams.defaults().updated(emotion={**base, **emotion})


def claire_means(model) -> dict[str, np.ndarray]:
    clips = {
        "anger": "Claire_anger.wav", "joy": "Claire_joy_mandarin.wav",
        "neutral": "Claire_neutral.wav", "outofbreath": "Claire_outofbreath_mandarin.wav",
        "sadness": "Claire_sadness.wav",
    }  # fmt: skip
    means = {}
    print(f"\n{'clip':12s} {'top':12s} " + " ".join(f"{n[:6]:>6s}" for n in EMOTION_NAMES))
    for label, name in clips.items():
        raw = estimate(model, load(name))
        means[label] = m = raw[raw.sum(axis=1) > 0].mean(axis=0)  # over the speech estimates
        top = EMOTION_NAMES[int(np.argmax(m))]
        print(f"{label:12s} {top:12s} " + " ".join(f"{v:6.3f}" for v in m))
    return means


# --- both estimators ------------------------------------------------------------------------


def test_silence_gives_no_emotion(model) -> None:
    rng = np.random.default_rng(0)
    for pcm in (np.zeros(48_000, np.float32), 0.001 * rng.standard_normal(48_000)):
        raw = estimate(model, pcm.astype(np.float32))
        assert np.all(raw == 0.0)


@needs_claire
def test_estimator_is_chunking_invariant_and_causal(model) -> None:
    pcm = load("Claire_anger.wav")
    whole = estimate(model, pcm)
    rng = np.random.default_rng(1)
    sizes = []
    while sum(sizes) < len(pcm):
        sizes.append(int(min(rng.integers(1, 3000), len(pcm) - sum(sizes))))
    np.testing.assert_allclose(whole, estimate(model, pcm, sizes), atol=1e-6)
    # Frames before 3 s do not change when the audio after 3 s does.
    altered = pcm.copy()
    altered[48_000:] = 0.0
    early = estimate(model, altered)
    cut = int(3.0 * FPS)
    np.testing.assert_allclose(whole[:cut], early[:cut], atol=1e-6)
    assert not np.allclose(whole[cut + 10 :], early[cut + 10 :])


@needs_claire
def test_estimates_update_at_least_four_times_a_second(model) -> None:
    raw = estimate(model, load("Claire_neutral.wav"))
    changes = np.flatnonzero(np.any(np.diff(raw, axis=0) != 0, axis=1)) + 1
    assert len(changes) >= 3 * len(raw) / FPS
    assert np.max(np.diff(changes)) <= int(0.25 * FPS) + 1
    assert raw.sum(axis=1).max() <= 1.0 + 1e-6  # the rest of the mass is neutral


@needs_claire
def test_batched_streams_equal_streams_alone(model) -> None:
    """One batched call for many streams gives each stream what it gets alone."""
    names = ("Claire_anger.wav", "Claire_sadness.wav", "Claire_neutral.wav")
    pcms = [load(n)[: 16_000 * (4 + i)] for i, n in enumerate(names)]
    alone = [estimate(model, p) for p in pcms]
    streams = [model.new_stream(FPS) for _ in pcms]
    rows: list[list[np.ndarray]] = [[] for _ in pcms]
    for pos in range(0, max(len(p) for p in pcms), 4000):
        for est, pcm in zip(streams, pcms, strict=True):
            if pos < len(pcm):
                est.push(pcm[pos : pos + 4000])
        model.analyse(streams)  # the pipeline's batched analysis, after the frames
        for i, est in enumerate(streams):
            if est.ready():
                rows[i].append(est.pop(est.ready()))
    for est, r, ref in zip(streams, rows, alone, strict=True):
        est.finish()
        r.append(est.pop(est.ready()))
        np.testing.assert_allclose(np.concatenate(r), ref, atol=1e-5)


# --- the learned network --------------------------------------------------------------------


@needs_claire
def test_learned_estimator_on_claire() -> None:
    means = claire_means(load_emotion_model("builtin"))
    for m in means.values():
        assert np.all(m[UNTRAINED] == 0.0)  # no training data: exactly zero, never noise
    # Anger is heard (within the top two) and is more aroused than sadness and neutral
    # speech; neutral speech leaves most of the mass to neutral (all ten low).
    assert EMOTION_INDEX["anger"] in np.argsort(-means["anger"])[:2]
    assert means["anger"].sum() > means["neutral"].sum() + 0.05
    assert means["anger"].sum() > means["sadness"].sum() + 0.1
    assert means["neutral"].sum() < 0.3


def test_emotion_model_setting_is_honoured_or_rejected(tmp_path: Path) -> None:
    def cfg(spec: str) -> Config:
        return Config(daemon=DaemonSection(emotion_model=spec))

    assert isinstance(emotion_model(cfg("builtin")), EmotionModel)
    assert emotion_model(cfg("rules")).name == "rules"
    with pytest.raises(ConfigError, match="daemon.emotion_model: .*no such file"):
        emotion_model(cfg(str(tmp_path / "missing.onnx")))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a loadable ONNX"):
        emotion_model(cfg(str(junk)))
    lipsync = Path(__file__).resolve().parent.parent / "engines" / "models" / "lipsync.onnx"
    with pytest.raises(EmotionModelError, match="not a facewire-emotion-1 model"):
        EmotionModel(lipsync)  # an ONNX file, but not emotion weights


# --- the hand-set rules ---------------------------------------------------------------------


@needs_claire
def test_rules_on_claire() -> None:
    means = claire_means(load_emotion_model("rules"))
    # Robust: the angry performance is more aroused than the sad one, and only the out-of-breath
    # performance makes outofbreath its strongest class.
    assert means["anger"][AROUSED].sum() > means["sadness"][AROUSED].sum() + 0.1
    ob = EMOTION_INDEX["outofbreath"]
    assert np.argmax(means["outofbreath"]) == ob
    assert all(means["outofbreath"][ob] > means[k][ob] for k in means if k != "outofbreath")


# --- post-processing ------------------------------------------------------------------------


def test_max_emotions_one_leaves_one_class() -> None:
    raw = const_raw(30, joy=0.4, anger=0.3, sadness=0.2)
    out = post(raw, plain(max_emotions=1))
    assert np.all(np.count_nonzero(out, axis=1) == 1)
    assert np.all(out[:, EMOTION_INDEX["joy"]] > 0)
    assert np.all(np.count_nonzero(post(raw, plain(max_emotions=2)), axis=1) == 2)


def test_contrast_sharpens_and_keeps_the_total() -> None:
    raw = const_raw(5, joy=0.4, anger=0.2)
    sharp = post(raw, plain(emotion_contrast=3.0))[-1]
    flat = post(raw, plain(emotion_contrast=0.3))[-1]
    j, a = EMOTION_INDEX["joy"], EMOTION_INDEX["anger"]
    assert sharp[j] / sharp[a] == pytest.approx(8.0, rel=1e-4)  # (0.4 / 0.2) ** 3
    assert flat[j] / flat[a] == pytest.approx(2**0.3, rel=1e-4)
    assert sharp.sum() == pytest.approx(0.6) and flat.sum() == pytest.approx(0.6)


def settle_frames(params: StreamParams) -> int:
    """Frames until a step from nothing to joy=1 (at 1 s) reaches 63 % of its final value."""
    raw = const_raw(int(10 * FPS), joy=1.0)
    raw[: int(FPS)] = 0.0
    joy = post(raw, params)[int(FPS) :, EMOTION_INDEX["joy"]]
    return int(np.argmax(joy >= 0.632 * joy[-1]))


def test_live_transition_time_sets_the_settle_time() -> None:
    for seconds in (0.5, 2.0):
        frames = settle_frames(plain(live_transition_time=seconds))
        assert frames / FPS == pytest.approx(seconds, rel=0.15)
    # The defaults (blend 0.7, transition 0.5 s) settle in about half a second.
    default = settle_frames(StreamParams.defaults().updated(emotion={"max_emotions": 6}))
    assert 0.4 <= default / FPS <= 0.8


def test_live_blend_coef_is_the_per_frame_memory() -> None:
    raw = const_raw(4, joy=1.0)
    out = post(raw, plain(live_blend_coef=0.7))[:, EMOTION_INDEX["joy"]]
    np.testing.assert_allclose(out, [0.3, 0.51, 0.657, 0.7599], rtol=1e-4)


def test_preferred_emotion_pulls_toward_it() -> None:
    raw = const_raw(90, anger=0.5)
    base = plain(enable_preferred_emotion=1, preferred_emotion_strength=0.5)
    pulled = post(raw, base.updated(preferred_emotion={"joy": 1.0}))[-1]
    assert pulled[EMOTION_INDEX["joy"]] == pytest.approx(0.5, abs=1e-3)
    assert pulled[EMOTION_INDEX["anger"]] == pytest.approx(0.25, abs=1e-3)
    off = post(raw, base.updated(preferred_emotion={"joy": 1.0},
                                 emotion={"enable_preferred_emotion": 0}))[-1]  # fmt: skip
    assert off[EMOTION_INDEX["joy"]] == 0.0


def test_emotion_strength_scales_and_beginning_emotion_starts() -> None:
    raw = const_raw(60, joy=0.5)
    full = post(raw, plain())
    np.testing.assert_allclose(post(raw, plain(emotion_strength=0.6)), 0.6 * full, rtol=1e-5)
    start = StreamParams.defaults().updated(beginning_emotion={"sadness": 1.0},
                                            emotion={"enable_preferred_emotion": 0})  # fmt: skip
    out = post(np.zeros((60, 10), np.float32), start)[:, EMOTION_INDEX["sadness"]]
    assert out[0] == pytest.approx(0.6 * 0.7)  # strength * blend with the initial state
    assert out[-1] < 0.05 * out[0]  # and then fades with no evidence for it


def test_hints_apply_from_their_timecode() -> None:
    pp = one_stream(plain(preferred_emotion_strength=1.0))
    pp.add_hint(0, {"joy": 1.0}, timecode=1.0)
    pp.add_hint(0, {}, timecode=2.0)  # back to the estimate
    raw = const_raw(90, anger=0.4)
    out = np.concatenate([pp.step([0], [10], raw[i : i + 10]) for i in range(0, 90, 10)])
    j, a = EMOTION_INDEX["joy"], EMOTION_INDEX["anger"]
    assert np.all(out[:30, j] == 0) and np.all(out[30:60, j] == 1.0)
    assert np.all(out[30:60, a] == 0) and np.all(out[60:, a] == pytest.approx(0.4))
    with pytest.raises(ParamError, match="did you mean 'anger'"):
        pp.add_hint(0, {"angry": 1.0}, 3.0)
    with pytest.raises(ParamError, match=r"0..1"):
        pp.add_hint(0, {"joy": 2.0}, 3.0)
    with pytest.raises(ParamError, match="timecode"):
        pp.add_hint(0, {"joy": 1.0}, -1.0)


def test_postprocessor_is_chunking_invariant() -> None:
    rng = np.random.default_rng(3)
    raw = (rng.random((200, 10)) * 0.1).astype(np.float32)
    p = StreamParams.defaults().updated(preferred_emotion={"joy": 0.5})
    np.testing.assert_array_equal(post(raw, p, chunk=1), post(raw, p, chunk=200))
    with pytest.raises(ValueError, match="raw emotions"):
        one_stream(p).step([0], [4], raw[:3])


def test_postprocessor_streams_do_not_depend_on_their_neighbours() -> None:
    rng = np.random.default_rng(4)
    raw = (rng.random((120, 10)) * 0.1).astype(np.float32)
    p = StreamParams.defaults().updated(preferred_emotion={"joy": 0.5})
    alone = post(raw, p, chunk=5)
    pp = EmotionPost(FPS)
    for slot in range(4):
        pp.open(slot, p if slot == 1 else plain(emotion_contrast=2.0, max_emotions=2))
    other = (rng.random((200, 10)) * 0.3).astype(np.float32)
    out = []
    for i in range(0, 120, 5):  # slot 1 with a varying set of neighbours of other lengths
        slots = [1] + [sl for sl in (0, 2, 3) if rng.random() < 0.6]
        counts = [5] + [int(rng.integers(1, 7)) for _ in slots[1:]]
        rows = np.concatenate([raw[i : i + 5]] + [other[:c] for c in counts[1:]])
        out.append(pp.step(slots, counts, rows)[:5])
    np.testing.assert_allclose(np.concatenate(out), alone, atol=1e-6)
