"""The face rig stage: lip-sync weights + emotions -> final ARKit weights and head angles.

`FaceRig.step()` applies, per frame and in this order, to every due stream at once (one
row per stream slot, engines/slots.py):

1. Strength: each shape is scaled by skin_strength (skin shapes only) and by
   upper/lower_face_strength, mixed by its share of the lower face. The share comes from
   A2F's face mask: each shape has a height on the face (0 chin .. 1 forehead, `SHAPE_HEIGHT`)
   and lower share = sigmoid((face_mask_level - height) / face_mask_softness).
2. lip_open_offset (mouthUpperUp/LowerDown to part, mouthPress to press the lips).
3. Tongue: tongueOut * tongue_strength + tongue_depth_offset.
4. Emotion poses: emotions (n, 10), already scaled by emotion_strength, times `EMOTION_POSES`
   (10, 52), scaled by the same per-shape strength. Mouth shapes that open or stretch the lips
   are attenuated while lip-sync closes them (mouthClose/mouthPress/mouthRoll), so a smile
   never blocks /p b m/.
5. Smoothing: exponential, per shape, half-life = upper/lower_face_smoothing mixed by the
   mask (A2F: alpha = 1 - 0.5 ** (dt / half_life)).
6. Blinks (procedural, more after phrase ends, times blink_strength), blink_offset *
   blink_strength and eyelid_open_offset on eyeBlink; eyelids raised past rest go to eyeWide.
7. Saccades on eyeLook*.
8. Head yaw/pitch/roll (radians): slow noise, livelier while speaking, plus nods on stressed
   syllables (jawOpen envelope).
9. Per-blendshape multipliers and offsets, then clamping of the 52 weights to [0, 1].

Everything random is a counter-based draw keyed by (stream key, frame index, channel)
(engines/noise.py), and all state is carried frame to frame, so a stream's output depends
only on its inputs and its key, never on how its frames are split between calls nor on
which other streams share a call.
"""

from __future__ import annotations

import math

import numpy as np

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES, EMOTION_INDEX, EMOTION_NAMES, HEAD_NAMES
from facewire.engines.noise import normals, uniforms
from facewire.engines.params import StreamParams
from facewire.engines.slots import SlotArrays, row_slots

OUTPUT_NAMES: tuple[str, ...] = ARKIT_NAMES + HEAD_NAMES
N_ARKIT = len(ARKIT_NAMES)
_I = ARKIT_INDEX


def _height(name: str) -> float:
    """Height of a shape's main motion on the face: 0 = chin, 1 = top of the forehead."""
    table = (
        ("brow", 0.85), ("eyeBlink", 0.72), ("eyeWide", 0.72), ("eyeLook", 0.70),
        ("eyeSquint", 0.66), ("cheekSquint", 0.56), ("noseSneer", 0.52),
        ("mouthUpperUp", 0.42), ("cheekPuff", 0.38), ("mouthShrugUpper", 0.36),
        ("mouthRollUpper", 0.36), ("mouthShrugLower", 0.26), ("mouthRollLower", 0.26),
        ("mouthLowerDown", 0.26), ("mouth", 0.32), ("tongue", 0.30), ("jaw", 0.12),
    )  # fmt: skip
    for prefix, h in table:
        if name.startswith(prefix):
            return h
    raise KeyError(name)


SHAPE_HEIGHT = np.array([_height(n) for n in ARKIT_NAMES], dtype=np.float64)
# A2F animates eyeballs, jaw and tongue separately from the skin; skin_strength skips them.
_SKIN = np.array([not n.startswith(("eyeLook", "jaw", "tongue")) for n in ARKIT_NAMES])


def _lr(name: str) -> list[str]:
    return [name + "Left", name + "Right"]


def _pose(**weights: float) -> np.ndarray:
    """A (52,) pose from keyword weights; a name ending in `_` means both Left and Right."""
    pose = np.zeros(N_ARKIT)
    for key, w in weights.items():
        for n in _lr(key[:-1]) if key.endswith("_") else [key]:
            pose[_I[n]] = w
    return pose


# Expression per class at full intensity (emotion value 1), in ARKit terms. Based on FACS
# prototypes (Ekman & Friesen): joy AU6+12, anger AU4+9+23/24, sadness AU1+15, surprise
# AU1+2+5+26, fear AU1+2+4+5+20, disgust AU9+10, pain AU4+6/7+9+20.
_POSES = {
    "amazement": _pose(eyeWide_=0.7, browInnerUp=0.5, browOuterUp_=0.6, jawOpen=0.15),
    "anger": _pose(browDown_=0.7, noseSneer_=0.35, mouthPress_=0.35, eyeSquint_=0.25,
                   mouthFrown_=0.2),
    "cheekiness": _pose(mouthSmileLeft=0.6, mouthSmileRight=0.15, mouthDimpleLeft=0.3,
                        cheekSquintLeft=0.3, eyeSquintLeft=0.2, browOuterUpRight=0.25),
    "disgust": _pose(noseSneer_=0.7, mouthUpperUp_=0.45, browDown_=0.3, eyeSquint_=0.2,
                     mouthFrown_=0.2),
    "fear": _pose(eyeWide_=0.7, browInnerUp=0.7, browOuterUp_=0.3, mouthStretch_=0.4),
    "grief": _pose(browInnerUp=0.8, mouthFrown_=0.7, mouthShrugLower=0.35, eyeSquint_=0.3,
                   mouthStretch_=0.2, eyeBlink_=0.15),
    "joy": _pose(mouthSmile_=0.7, cheekSquint_=0.5, eyeSquint_=0.35, mouthDimple_=0.2),
    "outofbreath": _pose(jawOpen=0.15, mouthLowerDown_=0.2, mouthUpperUp_=0.1, browInnerUp=0.4,
                         browOuterUp_=0.2),
    "pain": _pose(eyeSquint_=0.6, browDown_=0.6, mouthStretch_=0.5, cheekSquint_=0.4,
                  noseSneer_=0.3, eyeBlink_=0.2),
    "sadness": _pose(browInnerUp=0.6, mouthFrown_=0.5, mouthShrugLower=0.25, eyeBlink_=0.12),
}  # fmt: skip
EMOTION_POSES = np.stack([_POSES[n] for n in EMOTION_NAMES]).astype(np.float32)  # (10, 52)
assert set(_POSES) == set(EMOTION_INDEX)

# Emotion mouth shapes that open or stretch the lips: muted while lip-sync closes the mouth.
_LIP_OPENING = np.zeros(N_ARKIT, dtype=np.float32)  # 1 for those shapes, as a factor mask
for _n in (
    "jawOpen",
    "mouthFunnel",
    *_lr("mouthSmile"),
    *_lr("mouthStretch"),
    *_lr("mouthUpperUp"),
    *_lr("mouthLowerDown"),
    *_lr("mouthDimple"),
):
    _LIP_OPENING[_I[_n]] = 1.0
# Index arrays, not lists: numpy converts a list index on every use.
_CLOSURE = np.array(
    [_I[n] for n in ("mouthClose", *_lr("mouthPress"), "mouthRollLower", "mouthRollUpper")]
)
CLOSURE_FULL = 0.3  # a lip-sync closure weight at which emotion lip-opening is fully muted

_BLINKS = np.array([_I["eyeBlinkLeft"], _I["eyeBlinkRight"]])
_WIDES = np.array([_I["eyeWideLeft"], _I["eyeWideRight"]])
# Gaze (yaw, pitch) onto eyeLook*: each shape takes max(+-yaw or +-pitch, 0).
_LOOK_POS_YAW = np.array([_I["eyeLookOutLeft"], _I["eyeLookInRight"]])
_LOOK_NEG_YAW = np.array([_I["eyeLookInLeft"], _I["eyeLookOutRight"]])
_LOOK_UP = np.array([_I["eyeLookUpLeft"], _I["eyeLookUpRight"]])
_LOOK_DOWN = np.array([_I["eyeLookDownLeft"], _I["eyeLookDownRight"]])
_PARTING = np.array([_I[n] for n in (*_lr("mouthUpperUp"), *_lr("mouthLowerDown"))])
_PRESS = np.array([_I[n] for n in _lr("mouthPress")])
_TONGUE = _I["tongueOut"]
_JAW = _I["jawOpen"]

# Blinks: refractory gap, then a constant hazard giving ~17 blinks/min (mean gap 3.5 s);
# after a phrase ends an extra hazard makes a blink within BOOST_S likely (~70 %).
BLINK_REFRACTORY_S = 1.2
BLINK_RATE_HZ = 1.0 / 2.3
BLINK_BOOST_S = 0.4
BLINK_BOOST_HZ = 3.0
BLINK_BOOST_REFRACTORY_S = 0.5
_BLINK_CLOSE_S, _BLINK_HOLD_S, _BLINK_OPEN_S = 0.07, 0.04, 0.14
_BLINK_LEN_S = _BLINK_CLOSE_S + _BLINK_HOLD_S + _BLINK_OPEN_S

# Saccades: gaze holds, then jumps to a new nearby target (weights of eyeLook*).
SACCADE_REFRACTORY_S = 0.3
SACCADE_RATE_HZ = 1.0 / 0.9
SACCADE_STD = (0.08, 0.05)  # yaw, pitch as eyeLook weights
SACCADE_MAX = 0.25

# Head motion (radians): AR(1) noise smoothed once more, amplitude by speaking state, plus nods.
HEAD_TAU_S = (0.9, 0.3)
HEAD_AMP_SPEAKING = (0.05, 0.035, 0.02)
HEAD_AMP_SILENT = (0.02, 0.015, 0.01)
HEAD_AMP_TAU_S = 0.5
NOD_GAIN = 0.08  # rad per unit of jawOpen above its slow average
NOD_TAU_S = (0.08, 0.6)


def blink_profile(t_s: np.ndarray) -> np.ndarray:
    """Eyelid closure (0..1) t_s seconds after a blink starts: fast close, hold, slower open."""
    t = np.asarray(t_s, dtype=np.float64)
    # np.minimum/maximum rather than np.clip: the same result at a fraction of the call
    # overhead, which dominates on the few streams of a typical tick.
    closing = t / _BLINK_CLOSE_S
    opening = 1.0 - (t - _BLINK_CLOSE_S - _BLINK_HOLD_S) / _BLINK_OPEN_S
    x = np.minimum(np.maximum(np.where(t < _BLINK_CLOSE_S, closing, opening), 0.0), 1.0)
    out = x * x * (3 - 2 * x)
    return np.where((t < 0) | (t >= _BLINK_LEN_S), 0.0, out)


def smoothing_alpha(half_life_s: np.ndarray | float, fps: float) -> np.ndarray:
    """Per-frame update weight of A2F's smoothing: 1 - 0.5 ** (dt / half_life); 1 when off."""
    h = np.asarray(half_life_s, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(h > 0, 1.0 - np.power(0.5, (1.0 / fps) / np.maximum(h, 1e-12)), 1.0)


# Channels of the counter-based draws of one frame: two uniforms, then pairs for normals.
_U_BLINK, _U_SACCADE, _U_NORMALS, _CHANNELS = 0, 1, 2, 8
_FACE_FLAGS = ("enable_blinks", "enable_saccades", "enable_head_motion", "enable_clamping")
_FACE_SCALARS = ("lip_open_offset", "tongue_strength", "tongue_depth_offset", "blink_offset",
                 "blink_strength", "eyelid_open_offset")  # fmt: skip
# Columns of the motion state (float64), packed so that a round gathers and scatters it once:
# last blink start (s), blink boost until (s), last saccade (s), gaze yaw/pitch, head noise
# (AR(1) then smoothed), head amplitude, jawOpen fast/slow averages, was speaking, started.
_BLINK_T, _BOOST_T, _SACCADE_T, _SPEAKING, _STARTED = 0, 1, 2, 3, 4
_GAZE, _HX, _HY, _AMP, _NOD = slice(5, 7), slice(7, 10), slice(10, 13), slice(13, 16), slice(16, 18)
_MOTION = 18


def lower_share(params: StreamParams) -> np.ndarray:
    """(52,) share of each shape in the lower face under `params`' face mask."""
    f = params.face
    lower = 1.0 / (1.0 + np.exp(-(f["face_mask_level"] - SHAPE_HEIGHT) / f["face_mask_softness"]))
    # Snap the sigmoid's far tails, so a strength of 0 really stills its half of the face.
    return np.where(lower < 1e-6, 0.0, np.where(lower > 1 - 1e-6, 1.0, lower))


class FaceRig:
    """The rig state of every stream, one row per slot. See the module docstring."""

    def __init__(self, fps: float) -> None:
        self.fps = float(fps)
        dt = self._dt = 1.0 / self.fps
        self.s = SlotArrays({
            # parameters (set_params)
            "strength": ((N_ARKIT,), np.float32), "alpha": ((N_ARKIT,), np.float32),
            "mult": ((N_ARKIT,), np.float32), "offs": ((N_ARKIT,), np.float32),
            "scalars": ((len(_FACE_SCALARS),), np.float32),
            "flags": ((len(_FACE_FLAGS),), bool),
            # state carried frame to frame
            "key": ((), np.uint64), "next_frame": ((), np.int64),
            "smoothed": ((N_ARKIT,), np.float32), "motion": ((_MOTION,), np.float64),
        })  # fmt: skip
        # Per-frame constants of the generators (they depend on fps only).
        self._saccade_p = 1.0 - math.exp(-SACCADE_RATE_HZ * dt)
        a1, a2 = self._a1, self._a2 = [math.exp(-dt / tau) for tau in HEAD_TAU_S]
        self._amp_rate = 1 - math.exp(-dt / HEAD_AMP_TAU_S)
        self._nod_rate = np.array([1 - math.exp(-dt / tau) for tau in NOD_TAU_S])
        # The twice-filtered noise has std ~sqrt((1 - a2) / (1 + a2)) per unit input; undo it.
        self._head_gain = math.sqrt((1 + a2) / (1 - a2)) * math.sqrt((1 - a1 * a2) / (1 + a1 * a2))

    def open(self, slot: int, params: StreamParams, key: int) -> None:
        """Start a stream in `slot` (its frame 0 comes next); `key` (engines/noise.py:
        stream_key) keys its procedural motion."""
        s = self.s
        s.ensure(slot)
        s.key[slot] = key
        s.next_frame[slot] = 0
        s.smoothed[slot] = 0.0
        m = s.motion[slot]
        m[:] = 0.0
        m[_BLINK_T] = -10.0  # stream time (s) of the last blink's start
        m[_BOOST_T] = -1.0
        m[_AMP] = HEAD_AMP_SILENT
        self.set_params(slot, params)

    def set_params(self, slot: int, params: StreamParams) -> None:
        """Use `params` for the stream in `slot` from its next frame on."""
        f, s = params.face, self.s
        lower = lower_share(params)
        strength = f["upper_face_strength"] * (1 - lower) + f["lower_face_strength"] * lower
        s.strength[slot] = strength * np.where(_SKIN, f["skin_strength"], 1.0)
        half_life = f["upper_face_smoothing"] * (1 - lower) + f["lower_face_smoothing"] * lower
        s.alpha[slot] = smoothing_alpha(half_life, self.fps)
        s.mult[slot] = params.multipliers
        s.offs[slot] = params.offsets
        s.scalars[slot] = [f[k] for k in _FACE_SCALARS]
        s.flags[slot] = [bool(f[k]) for k in _FACE_FLAGS]

    def step(
        self,
        slots: np.ndarray,
        counts: np.ndarray,
        lipsync: np.ndarray,
        emotions: np.ndarray,
        speaking: np.ndarray,
    ) -> np.ndarray:
        """Final weights for the next counts[i] frames of the stream in slots[i], all at once.

        Args:
            slots, counts: (m,) int: distinct slots, and how many frames each one gets.
            lipsync: (R, 52) float32 lip-sync weights, R = counts.sum(), rows stream after
                stream in the order of `slots`.
            emotions: (R, 10) post-processed emotions (already times emotion_strength).
            speaking: (R,) bool voice activity per frame.

        Returns:
            (R, 55) float32: the 52 ARKit weights then head yaw, pitch, roll in radians.
        """
        slots = np.asarray(slots, dtype=np.intp)
        counts = np.asarray(counts, dtype=np.intp)
        lipsync = np.asarray(lipsync, dtype=np.float32)
        emotions = np.asarray(emotions, dtype=np.float32)
        speaking = np.asarray(speaking, dtype=bool)
        n = int(counts.sum())
        if (
            lipsync.shape != (n, N_ARKIT)
            or emotions.shape != (n, len(EMOTION_NAMES))
            or speaking.shape != (n,)
        ):
            raise ValueError(
                f"step() shapes: lipsync {lipsync.shape}, emotions {emotions.shape}, "
                f"speaking {speaking.shape}; want ({n}, 52), ({n}, 10), ({n},)"
            )
        s = self.s
        rows, _ = row_slots(slots, counts)
        out = np.zeros((n, len(OUTPUT_NAMES)), dtype=np.float32)
        w = self._shape(rows, lipsync, emotions)
        starts = np.cumsum(counts) - counts
        # The recurrences (smoothing, blinks, gaze, head) advance one frame per round, over
        # every stream that still has a frame: a live tick has one or two rounds.
        for k in range(int(counts.max()) if len(counts) else 0):
            live = counts > k
            sl, r = slots[live], starts[live] + k
            frame = s.next_frame[sl] + k
            t = frame * self._dt
            u = uniforms(s.key[sl], frame, _CHANNELS)
            m = s.motion[sl]
            smoothed = s.smoothed[sl]
            smoothed = np.where(
                m[:, _STARTED : _STARTED + 1] > 0, smoothed + (w[r] - smoothed) * s.alpha[sl], w[r]
            ).astype(np.float32)
            s.smoothed[sl] = smoothed
            m[:, _STARTED] = 1.0
            flags, sc = s.flags[sl], s.scalars[sl]
            noise = normals(u[:, _U_NORMALS:_CHANNELS])
            self._eyes(m, flags, sc, smoothed, t, speaking[r], u, noise[:, :2])
            head = self._head(m, lipsync[r, _JAW].astype(np.float64), speaking[r], noise[:, 2:5])
            s.motion[sl] = m
            out[r, N_ARKIT:] = np.where(flags[:, 2:3], head, 0.0)
            out[r, :N_ARKIT] = smoothed
        s.next_frame[slots] += counts
        weights = out[:, :N_ARKIT]
        weights[:] = weights * s.mult[rows] + s.offs[rows]
        clamp = s.flags[rows, 3]
        weights[clamp] = np.minimum(np.maximum(weights[clamp], 0.0), 1.0)
        return out

    def _shape(self, rows: np.ndarray, lipsync: np.ndarray, emotions: np.ndarray) -> np.ndarray:
        """Steps 1-4 (no state) on every row: strengths, lip/tongue offsets, emotion poses."""
        s = self.s
        strength = s.strength[rows]
        sc = s.scalars[rows]
        w = lipsync * strength
        lip = sc[:, 0:1]
        w[:, _PARTING] += np.maximum(lip, 0.0)
        w[:, _PRESS] += np.maximum(-lip, 0.0)
        w[:, _PARTING] = np.where(lip < 0, np.maximum(w[:, _PARTING] + lip, 0.0), w[:, _PARTING])
        w[:, _TONGUE] = w[:, _TONGUE] * sc[:, 1] + sc[:, 2]
        emo = (emotions @ EMOTION_POSES) * strength
        closure = np.minimum(np.maximum(lipsync[:, _CLOSURE].max(axis=1) / CLOSURE_FULL, 0), 1)
        emo *= 1.0 - closure[:, None] * _LIP_OPENING
        w += emo
        return w

    def _eyes(
        self,
        m: np.ndarray,
        flags: np.ndarray,
        sc: np.ndarray,
        row: np.ndarray,
        t: np.ndarray,
        speaking: np.ndarray,
        u: np.ndarray,
        target: np.ndarray,
    ) -> None:
        """Steps 6-7 on one frame of each stream of a round (motion state `m` and `row` in
        place): blinks, eyelid offsets, saccades."""
        ended = (m[:, _SPEAKING] > 0) & ~speaking
        m[:, _BOOST_T] = np.where(ended, t + BLINK_BOOST_S, m[:, _BOOST_T])
        m[:, _SPEAKING] = speaking
        since = t - m[:, _BLINK_T]
        rate = np.where(since >= BLINK_REFRACTORY_S, BLINK_RATE_HZ, 0.0)
        rate += np.where(
            (t < m[:, _BOOST_T]) & (since >= BLINK_BOOST_REFRACTORY_S), BLINK_BOOST_HZ, 0.0
        )
        starts = (since >= _BLINK_LEN_S) & (u[:, _U_BLINK] < 1.0 - np.exp(-rate * self._dt))
        m[:, _BLINK_T] = np.where(starts, t, m[:, _BLINK_T])
        blink = np.where(flags[:, 0], blink_profile(t - m[:, _BLINK_T]), 0.0)
        lid = (blink + sc[:, 3]) * sc[:, 4] - sc[:, 5]
        closure = row[:, _BLINKS] + lid[:, None]
        row[:, _BLINKS] = np.maximum(closure, 0.0)
        row[:, _WIDES] += np.maximum(-closure, 0.0)

        jump = (t - m[:, _SACCADE_T] >= SACCADE_REFRACTORY_S) & (u[:, _U_SACCADE] < self._saccade_p)
        m[:, _SACCADE_T] = np.where(jump, t, m[:, _SACCADE_T])
        target = np.minimum(np.maximum(target * SACCADE_STD, -SACCADE_MAX), SACCADE_MAX)
        m[:, _GAZE] = np.where(jump[:, None], target, m[:, _GAZE])
        gaze = np.where(flags[:, 1:2], m[:, _GAZE], 0.0)  # yaw > 0: looks left
        yaw, pitch = gaze[:, 0:1], gaze[:, 1:2]
        row[:, _LOOK_POS_YAW] += np.maximum(yaw, 0.0)
        row[:, _LOOK_NEG_YAW] += np.maximum(-yaw, 0.0)
        row[:, _LOOK_UP] += np.maximum(pitch, 0.0)
        row[:, _LOOK_DOWN] += np.maximum(-pitch, 0.0)

    def _head(
        self, m: np.ndarray, jaw: np.ndarray, speaking: np.ndarray, noise: np.ndarray
    ) -> np.ndarray:
        """Step 8 on one frame of each stream of a round (motion state `m` in place): (n, 3)
        head yaw, pitch, roll in radians (pitch > 0 nods down). The state runs whether or
        not head motion is enabled, so switching it on mid-stream resumes from settled noise."""
        a1, a2 = self._a1, self._a2
        target = np.where(speaking[:, None], HEAD_AMP_SPEAKING, HEAD_AMP_SILENT)
        m[:, _HX] = a1 * m[:, _HX] + math.sqrt(1 - a1 * a1) * noise
        m[:, _HY] = a2 * m[:, _HY] + (1 - a2) * m[:, _HX]
        m[:, _AMP] += (target - m[:, _AMP]) * self._amp_rate
        head = m[:, _HY] * self._head_gain * m[:, _AMP]
        m[:, _NOD] += (jaw[:, None] - m[:, _NOD]) * self._nod_rate
        fast, slow = m[:, _NOD].T
        head[:, 1] += NOD_GAIN * np.maximum(fast - slow, 0.0)
        return head
