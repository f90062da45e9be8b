"""FaceRig: every face parameter changes real output the way docs/PARAMETERS.md says."""

import numpy as np
import pytest

from facewire.arkit import ARKIT_INDEX, EMOTION_INDEX, HEAD_NAMES
from facewire.engines.face import OUTPUT_NAMES, FaceRig, lower_share, smoothing_alpha
from facewire.engines.noise import stream_key
from facewire.engines.params import StreamParams

FPS = 30.0
IDX = ARKIT_INDEX
MOUTH = [i for n, i in IDX.items() if n.startswith(("mouth", "jaw", "tongue"))]
BROWS = [i for n, i in IDX.items() if n.startswith("brow")]
LOOK = [i for n, i in IDX.items() if n.startswith("eyeLook")]
HEAD = slice(52, 55)
BLINK = IDX["eyeBlinkLeft"]


def speech_like(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(n, 52) lip-sync that opens and closes like syllables, with /m/ closures; speaking flags."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    w = np.zeros((n, 52), np.float32)
    speaking = (t % 4.0) < 3.0  # 3 s phrases, 1 s pauses
    syl = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) * speaking
    w[:, IDX["jawOpen"]] = 0.5 * syl
    w[:, IDX["mouthFunnel"]] = 0.2 * syl * (rng.random(n) > 0.5)
    closure = speaking & ((np.arange(n) % 15) < 2)  # a bilabial every 0.5 s
    w[closure, IDX["mouthClose"]] = 0.6
    w[closure, IDX["jawOpen"]] = 0.05
    w[:, IDX["browInnerUp"]] = 0.1 * syl
    w[:, IDX["tongueOut"]] = 0.1 * syl
    return w, speaking


def run(params: StreamParams, lipsync: np.ndarray, emotions: np.ndarray | None = None,
        speaking: np.ndarray | None = None, seed: int = 0, chunks: list[int] | None = None,
        ) -> np.ndarray:  # fmt: skip
    n = len(lipsync)
    emotions = np.zeros((n, 10), np.float32) if emotions is None else emotions
    speaking = np.zeros(n, bool) if speaking is None else speaking
    anim = one_stream(params, seed)
    sizes = chunks or [n]
    out, pos = [], 0
    for size in sizes:
        out.append(anim.step([0], [size], lipsync[pos:pos + size], emotions[pos:pos + size],
                             speaking[pos:pos + size]))  # fmt: skip
        pos += size
    assert pos == n
    return np.concatenate(out)


def one_stream(params: StreamParams, seed: int = 0) -> FaceRig:
    """A rig with one stream open, in slot 0."""
    rig = FaceRig(FPS)
    rig.open(0, params, stream_key(seed, "face"))
    return rig


def quiet(**face: float) -> StreamParams:
    """Defaults without the procedural eye/head motion, plus `face` overrides."""
    base = {"enable_blinks": 0, "enable_saccades": 0, "enable_head_motion": 0}
    return StreamParams.defaults().updated(face={**base, **face})


def emotion_rows(n: int, name: str, value: float = 0.6) -> np.ndarray:
    e = np.zeros((n, 10), np.float32)
    e[:, EMOTION_INDEX[name]] = value
    return e


def test_output_layout() -> None:
    assert len(OUTPUT_NAMES) == 55 and OUTPUT_NAMES[52:] == HEAD_NAMES
    lip, speaking = speech_like(60)
    out = run(StreamParams.defaults(), lip, speaking=speaking)
    assert out.shape == (60, 55) and out.dtype == np.float32
    assert out[:, :52].min() >= 0.0 and out[:, :52].max() <= 1.0


def test_defaults_pass_lip_sync_through() -> None:
    lip, speaking = speech_like(120)
    out = run(quiet(tongue_strength=1.0), lip, speaking=speaking)
    # A2F's default smoothing half-lives (1 ms upper, 6 ms lower) barely touch 30 fps motion.
    np.testing.assert_allclose(out[:, MOUTH], lip[:, MOUTH], atol=0.02)


def test_lower_face_strength_zero_stills_the_mouth_even_with_emotion() -> None:
    lip, speaking = speech_like(150)
    out = run(quiet(lower_face_strength=0.0), lip, emotion_rows(150, "joy"), speaking)
    assert np.all(out[:, MOUTH] == 0.0)
    assert out[:, IDX["browInnerUp"]].max() > 0.05  # the upper face still moves
    doubled = run(quiet(lower_face_strength=2.0), lip, speaking=speaking)
    assert doubled[:, IDX["jawOpen"]].max() == pytest.approx(2 * lip[:, IDX["jawOpen"]].max(), 0.05)


def test_upper_face_strength_scales_brows() -> None:
    lip, speaking = speech_like(150)
    anger = emotion_rows(150, "anger")
    off = run(quiet(upper_face_strength=0.0), lip, anger, speaking)
    on = run(quiet(), lip, anger, speaking)
    assert np.all(off[:, BROWS] == 0.0) and on[:, IDX["browDownLeft"]].max() > 0.3
    np.testing.assert_allclose(off[:, MOUTH], on[:, MOUTH])


def test_face_mask_level_moves_the_split() -> None:
    lip, speaking = speech_like(90)
    # Mask line at the chin: the whole face is "upper", so lower_face_strength does nothing.
    out = run(quiet(face_mask_level=0.0, lower_face_strength=0.0), lip, speaking=speaking)
    assert out[:, IDX["jawOpen"]].max() > 0.4
    # Mask line above the brows: the brows become "lower" and follow lower_face_strength.
    out = run(quiet(face_mask_level=1.0, lower_face_strength=0.0), lip, speaking=speaking)
    assert np.all(out[:, BROWS] == 0.0)


def test_face_mask_softness_blends_shapes_near_the_line() -> None:
    hard = lower_share(quiet())
    soft = lower_share(quiet(face_mask_softness=0.2))
    cheek = IDX["cheekSquintLeft"]  # just below the default line
    assert hard[cheek] > 0.99 and 0.5 < soft[cheek] < 0.9
    assert hard[IDX["jawOpen"]] > 0.999 and hard[IDX["browInnerUp"]] < 0.001


def test_skin_strength_scales_skin_not_jaw_or_tongue() -> None:
    lip, speaking = speech_like(90)
    out = run(quiet(skin_strength=0.0, tongue_strength=1.0), lip, emotion_rows(90, "joy"),
              speaking)  # fmt: skip
    assert np.all(out[:, IDX["mouthSmileLeft"]] == 0) and np.all(out[:, IDX["mouthClose"]] == 0)
    np.testing.assert_allclose(out[:, IDX["jawOpen"]], lip[:, IDX["jawOpen"]], atol=0.02)
    np.testing.assert_allclose(out[:, IDX["tongueOut"]], lip[:, IDX["tongueOut"]], atol=0.02)


def test_jaw_open_multiplier_zero_gives_exactly_zero() -> None:
    lip, speaking = speech_like(150)
    p = StreamParams.defaults().updated(multipliers={"jawOpen": 0.0})
    out = run(p, lip, emotion_rows(150, "amazement"), speaking)
    assert np.all(out[:, IDX["jawOpen"]] == 0.0)


def test_offsets_and_clamping() -> None:
    lip, speaking = speech_like(60)
    out = run(StreamParams.defaults().updated(offsets={"cheekPuff": 0.25}), lip, speaking=speaking)
    assert np.all(out[:, IDX["cheekPuff"]] == np.float32(0.25))
    loud = quiet().updated(multipliers={"jawOpen": 4.0})
    assert run(loud, lip, speaking=speaking)[:, IDX["jawOpen"]].max() == 1.0
    free = loud.updated(face={"enable_clamping": 0}, offsets={"mouthClose": -0.5})
    out = run(free, lip, speaking=speaking)
    assert out[:, IDX["jawOpen"]].max() > 1.5 and out[:, IDX["mouthClose"]].min() < 0.0


def test_lip_open_offset_parts_or_presses_the_lips() -> None:
    lip = np.zeros((30, 52), np.float32)
    parted = run(quiet(lip_open_offset=0.15), lip)
    pressed = run(quiet(lip_open_offset=-0.15), lip)
    assert parted[-1, IDX["mouthLowerDownLeft"]] == pytest.approx(0.15, abs=1e-4)
    assert parted[-1, IDX["mouthPressLeft"]] == 0.0
    assert pressed[-1, IDX["mouthPressLeft"]] == pytest.approx(0.15, abs=1e-4)
    assert pressed[-1, IDX["mouthLowerDownLeft"]] == 0.0


def test_tongue_strength_and_depth_offset() -> None:
    lip, speaking = speech_like(90)
    base = run(quiet(tongue_strength=1.0), lip, speaking=speaking)[:, IDX["tongueOut"]]
    strong = run(quiet(tongue_strength=2.0), lip, speaking=speaking)[:, IDX["tongueOut"]]
    forward = run(quiet(tongue_strength=1.0, tongue_depth_offset=0.2), lip,
                  speaking=speaking)[:, IDX["tongueOut"]]  # fmt: skip
    np.testing.assert_allclose(strong, np.minimum(2 * base, 1.0), atol=1e-4)
    np.testing.assert_allclose(forward, np.clip(base + 0.2, 0, 1), atol=1e-4)


def test_smoothing_half_life_is_measurable() -> None:
    n = 40
    lip = np.zeros((n, 52), np.float32)
    lip[10:, IDX["jawOpen"]] = 1.0
    lip[10:, IDX["browInnerUp"]] = 1.0
    out = run(quiet(lower_face_smoothing=0.1, upper_face_smoothing=0.0), lip)
    jaw = out[:, IDX["jawOpen"]]
    # 0.1 s half-life = 3 frames at 30 fps: half-way after 3 frames, three quarters after 6.
    assert jaw[10 + 2] == pytest.approx(0.5, abs=0.01)
    assert jaw[10 + 5] == pytest.approx(0.75, abs=0.01)
    assert out[10, IDX["browInnerUp"]] == 1.0  # upper smoothing 0: no lag
    assert smoothing_alpha(0.006, 30.0) == pytest.approx(1 - 0.5 ** (1 / 30 / 0.006))


def test_emotion_poses_show_on_the_face() -> None:
    lip = np.zeros((30, 52), np.float32)
    joy = run(quiet(), lip, emotion_rows(30, "joy"))[-1]
    anger = run(quiet(), lip, emotion_rows(30, "anger"))[-1]
    sad = run(quiet(), lip, emotion_rows(30, "sadness"))[-1]
    assert joy[IDX["mouthSmileLeft"]] > 0.3 and joy[IDX["cheekSquintLeft"]] > 0.2
    assert anger[IDX["browDownLeft"]] > 0.3 and anger[IDX["noseSneerLeft"]] > 0.1
    assert sad[IDX["browInnerUp"]] > 0.3 and sad[IDX["mouthFrownLeft"]] > 0.2
    assert joy[IDX["browDownLeft"]] == 0 and anger[IDX["mouthSmileLeft"]] == 0


def test_smile_never_blocks_a_bilabial_closure() -> None:
    lip, speaking = speech_like(150)
    out = run(quiet(), lip, emotion_rows(150, "joy", 0.8), speaking)
    closed = lip[:, IDX["mouthClose"]] >= 0.3
    open_ = (lip[:, IDX["jawOpen"]] > 0.3) & ~closed
    assert closed.sum() > 5 and open_.sum() > 5
    # Only the lower-face smoothing's 2 % carry-over from the frame before may remain.
    assert out[closed, IDX["mouthSmileLeft"]].max() < 0.02
    assert np.all(out[closed, IDX["mouthClose"]] >= 0.58)
    assert out[open_, IDX["mouthSmileLeft"]].min() > 0.3
    # Brows and cheeks keep the emotion through the closure.
    assert out[closed, IDX["cheekSquintLeft"]].min() > 0.2


def blink_onsets(eye: np.ndarray) -> int:
    shut = eye > 0.5
    return int(np.sum(shut[1:] & ~shut[:-1]))


def test_blinks_have_a_natural_rate_and_blink_strength_zero_removes_them() -> None:
    n = int(300 * FPS)  # five minutes of silence
    lip = np.zeros((n, 52), np.float32)
    out = run(StreamParams.defaults(), lip)
    per_min = blink_onsets(out[:, BLINK]) / 5
    assert 12 <= per_min <= 25
    assert np.all(out[:, BLINK] == out[:, IDX["eyeBlinkRight"]])
    none = run(StreamParams.defaults().updated(face={"blink_strength": 0.0}), lip)
    assert np.all(none[:, BLINK] == 0.0)
    off = run(StreamParams.defaults().updated(face={"enable_blinks": 0}), lip)
    assert np.all(off[:, BLINK] == 0.0)
    half = run(StreamParams.defaults().updated(face={"blink_strength": 0.5}), lip)
    assert half[:, BLINK].max() == pytest.approx(0.5, abs=1e-6)


def test_more_blinks_at_phrase_ends() -> None:
    n = int(600 * FPS)
    t = np.arange(n) / FPS
    speaking = (t % 4.0) < 3.0
    out = run(StreamParams.defaults(), np.zeros((n, 52), np.float32), speaking=speaking)
    shut = out[:, BLINK] > 0.5
    onset = np.flatnonzero(shut[1:] & ~shut[:-1]) + 1
    phase = t[onset] % 4.0
    after_end = np.mean((phase >= 3.0) & (phase < 3.5))  # 1/8 of the time
    assert after_end > 0.3


def test_blink_offset_and_eyelid_open_offset() -> None:
    lip = np.zeros((30, 52), np.float32)
    out = run(quiet(blink_offset=0.3, blink_strength=0.5), lip)
    assert out[-1, BLINK] == pytest.approx(0.15, abs=1e-6)  # A2F: offset * strength
    closed = run(quiet(eyelid_open_offset=-0.4), lip)[-1]
    wide = run(quiet(eyelid_open_offset=0.4), lip)[-1]
    assert closed[BLINK] == pytest.approx(0.4) and closed[IDX["eyeWideLeft"]] == 0.0
    assert wide[IDX["eyeWideLeft"]] == pytest.approx(0.4) and wide[BLINK] == 0.0


def test_saccades_and_head_motion_switch() -> None:
    lip, speaking = speech_like(int(60 * FPS))
    on = run(StreamParams.defaults(), lip, speaking=speaking)
    look = on[:, LOOK]
    assert look.max() > 0.02 and look.max() <= 0.25 + 1e-6
    moves = np.sum(np.any(np.abs(np.diff(look, axis=0)) > 1e-6, axis=1))
    assert 20 <= moves <= 150  # roughly one saccade a second
    off = run(quiet(enable_blinks=1, enable_head_motion=1), lip, speaking=speaking)
    assert np.all(off[:, LOOK] == 0.0)
    head = on[:, HEAD]
    assert 0.005 < np.abs(head).max() < 0.3  # small angles, radians
    talking = head[speaking].std(axis=0)
    silent = head[~speaking].std(axis=0)
    assert talking[0] > silent[0]
    assert np.all(run(quiet(), lip, speaking=speaking)[:, HEAD] == 0.0)


def test_deterministic_and_chunking_invariant() -> None:
    lip, speaking = speech_like(900)
    emo = emotion_rows(900, "joy", 0.5)
    p = StreamParams.defaults()
    whole = run(p, lip, emo, speaking, seed=7)
    rng = np.random.default_rng(0)
    sizes = []
    while sum(sizes) < 900:
        sizes.append(int(min(rng.integers(1, 40), 900 - sum(sizes))))
    np.testing.assert_array_equal(whole, run(p, lip, emo, speaking, seed=7, chunks=sizes))
    assert not np.array_equal(whole, run(p, lip, emo, speaking, seed=8))


def test_set_params_applies_from_the_next_frame() -> None:
    lip, speaking = speech_like(60)
    anim = one_stream(quiet())
    zeros = np.zeros((30, 10), np.float32)
    first = anim.step([0], [30], lip[:30], zeros, speaking[:30])
    anim.set_params(0, quiet().updated(multipliers={"jawOpen": 0.0}))
    second = anim.step([0], [30], lip[30:], zeros, speaking[30:])
    assert first[:, IDX["jawOpen"]].max() > 0.3 and np.all(second[:, IDX["jawOpen"]] == 0)
    with pytest.raises(ValueError, match="shapes"):
        anim.step([0], [2], lip[:1], zeros[:1], speaking[:1])


def test_a_stream_does_not_depend_on_the_streams_that_share_its_call() -> None:
    p = StreamParams.defaults()
    lip, speaking = speech_like(300)
    emo = emotion_rows(300, "joy", 0.4)
    alone = run(p, lip, emo, speaking, seed=3)
    rig = FaceRig(FPS)
    for slot in range(5):
        rig.open(slot, p, stream_key(3 if slot == 2 else slot + 10, "face"))
    out, pos, rng = [], 0, np.random.default_rng(5)
    while pos < 300:  # slot 2 shares every call with a varying set of other streams
        size = int(min(rng.integers(1, 9), 300 - pos))
        others = [sl for sl in (0, 1, 3, 4) if rng.random() < 0.5]
        slots = sorted([2, *others])
        counts = [size if sl == 2 else int(rng.integers(1, 4)) for sl in slots]
        rows = [np.arange(pos, pos + c) % 300 for c in counts]
        rows[slots.index(2)] = np.arange(pos, pos + size)
        idx = np.concatenate(rows)
        res = rig.step(slots, counts, lip[idx], emo[idx], speaking[idx])
        at = sum(counts[: slots.index(2)])
        out.append(res[at : at + size])
        pos += size
    np.testing.assert_allclose(np.concatenate(out), alone, atol=1e-6)
