"""The face rig stage: lip-sync weights + emotions -> final ARKit weights and head angles.

`FaceAnimator.step()` applies, per frame and in this order:

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

Everything random comes from generators seeded by `seed` that draw a fixed number of values
per frame, and all state is carried frame to frame, so the output depends only on the inputs
and the seed, never on how frames are split between calls.
"""

from __future__ import annotations

import math

import numpy as np

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES, EMOTION_INDEX, EMOTION_NAMES, HEAD_NAMES
from facewire.engines.params import StreamParams

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

_EYELIDS = ((_I["eyeBlinkLeft"], _I["eyeWideLeft"]), (_I["eyeBlinkRight"], _I["eyeWideRight"]))
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


def blink_profile(t_s: float) -> float:
    """Eyelid closure (0..1) t_s seconds after a blink starts: fast close, hold, slower open."""
    if t_s < 0:
        return 0.0
    if t_s < _BLINK_CLOSE_S:
        x = t_s / _BLINK_CLOSE_S
        return x * x * (3 - 2 * x)
    t_s -= _BLINK_CLOSE_S
    if t_s < _BLINK_HOLD_S:
        return 1.0
    t_s -= _BLINK_HOLD_S
    if t_s < _BLINK_OPEN_S:
        x = 1.0 - t_s / _BLINK_OPEN_S
        return x * x * (3 - 2 * x)
    return 0.0


_BLINK_LEN_S = _BLINK_CLOSE_S + _BLINK_HOLD_S + _BLINK_OPEN_S


def smoothing_alpha(half_life_s: np.ndarray | float, fps: float) -> np.ndarray:
    """Per-frame update weight of A2F's smoothing: 1 - 0.5 ** (dt / half_life); 1 when off."""
    h = np.asarray(half_life_s, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(h > 0, 1.0 - np.power(0.5, (1.0 / fps) / np.maximum(h, 1e-12)), 1.0)


class FaceAnimator:
    """Per-stream rig state: smoothing, blink/saccade/head generators. See the module docstring."""

    def __init__(self, params: StreamParams, fps: float, seed: int = 0) -> None:
        self.fps = float(fps)
        self._dt = 1.0 / self.fps
        seeds = np.random.SeedSequence(seed).spawn(4)
        self._rng_blink, self._rng_sacc, self._rng_target, self._rng_head = (
            np.random.default_rng(s) for s in seeds
        )
        self._next_frame = 0
        self._smoothed: np.ndarray | None = None
        self._blink_start = -10.0  # stream time (s) of the last blink's start
        self._boost_until = -1.0
        self._was_speaking = False
        self._gaze = np.zeros(2)
        self._last_saccade = 0.0
        self._head_x = [0.0, 0.0, 0.0]
        self._head_y = [0.0, 0.0, 0.0]
        self._head_amp = list(HEAD_AMP_SILENT)
        self._nod_fast = 0.0
        self._nod_slow = 0.0
        # Per-frame constants of the generators (they depend on fps only).
        dt = self._dt
        self._saccade_p = 1.0 - math.exp(-SACCADE_RATE_HZ * dt)
        self._a1, self._a2 = (math.exp(-dt / tau) for tau in HEAD_TAU_S)
        self._amp_rate = 1 - math.exp(-dt / HEAD_AMP_TAU_S)
        self._nod_fast_rate, self._nod_slow_rate = (1 - math.exp(-dt / tau) for tau in NOD_TAU_S)
        a1, a2 = self._a1, self._a2
        # The twice-filtered noise has std ~sqrt((1 - a2) / (1 + a2)) per unit input; undo it.
        self._head_gain = math.sqrt((1 + a2) / (1 - a2)) * math.sqrt((1 - a1 * a2) / (1 + a1 * a2))
        self.set_params(params)

    def set_params(self, params: StreamParams) -> None:
        """Use `params` from the next frame on."""
        f = params.face
        self.params = params
        lower = 1.0 / (
            1.0 + np.exp(-(f["face_mask_level"] - SHAPE_HEIGHT) / f["face_mask_softness"])
        )
        # Snap the sigmoid's far tails, so a strength of 0 really stills its half of the face.
        lower = np.where(lower < 1e-6, 0.0, np.where(lower > 1 - 1e-6, 1.0, lower))
        self.lower_share = lower  # (52,) share of each shape in the lower face
        strength = f["upper_face_strength"] * (1 - lower) + f["lower_face_strength"] * lower
        self._strength = (strength * np.where(_SKIN, f["skin_strength"], 1.0)).astype(np.float32)
        half_life = f["upper_face_smoothing"] * (1 - lower) + f["lower_face_smoothing"] * lower
        self._alpha = smoothing_alpha(half_life, self.fps).astype(np.float32)
        self._mult = np.asarray(params.multipliers, dtype=np.float32)
        self._offs = np.asarray(params.offsets, dtype=np.float32)

    def step(
        self, lipsync: np.ndarray, emotions: np.ndarray, speaking: np.ndarray, first_frame: int
    ) -> np.ndarray:
        """Final weights for frames first_frame .. first_frame + n - 1.

        Args:
            lipsync: (n, 52) float32 lip-sync weights from the engine.
            emotions: (n, 10) post-processed emotions (already times emotion_strength).
            speaking: (n,) bool voice activity per frame.
            first_frame: stream index of the first row; must continue the previous call.

        Returns:
            (n, 55) float32: the 52 ARKit weights then head yaw, pitch, roll in radians.
        """
        lipsync = np.asarray(lipsync, dtype=np.float32)
        emotions = np.asarray(emotions, dtype=np.float32)
        speaking = np.asarray(speaking, dtype=bool)
        n = len(lipsync)
        if (
            lipsync.shape != (n, N_ARKIT)
            or emotions.shape != (n, len(EMOTION_NAMES))
            or speaking.shape != (n,)
        ):
            raise ValueError(
                f"step() shapes: lipsync {lipsync.shape}, emotions {emotions.shape}, "
                f"speaking {speaking.shape}; want (n, 52), (n, 10), (n,)"
            )
        if first_frame != self._next_frame:
            raise ValueError(f"step() got first_frame={first_frame}, expected {self._next_frame}")
        f = self.params.face
        out = np.zeros((n, len(OUTPUT_NAMES)), dtype=np.float32)
        w = self._shape(lipsync, emotions)
        # Random draws: a fixed count per frame from each generator (chunking invariant).
        u_blink = self._rng_blink.random(n)
        u_sacc = self._rng_sacc.random(n)
        targets = self._rng_target.standard_normal((n, 2))
        head_noise = self._rng_head.standard_normal((n, 3)).tolist()
        for i in range(n):
            t = (first_frame + i) * self._dt
            if self._smoothed is None:
                self._smoothed = w[i].copy()
            else:
                self._smoothed += (w[i] - self._smoothed) * self._alpha
            row = self._smoothed.tolist()  # Python floats: cheaper item by item
            self._eyes(row, t, bool(speaking[i]), u_blink[i], u_sacc[i], targets[i])
            out[i, N_ARKIT:] = (
                self._head(float(lipsync[i, _JAW]), bool(speaking[i]), head_noise[i])
                if f["enable_head_motion"]
                else 0.0
            )
            out[i, :N_ARKIT] = row
        self._next_frame += n
        out[:, :N_ARKIT] = out[:, :N_ARKIT] * self._mult + self._offs
        if f["enable_clamping"]:
            weights = out[:, :N_ARKIT]
            np.maximum(weights, 0.0, out=weights)
            np.minimum(weights, 1.0, out=weights)
        return out

    def _shape(self, lipsync: np.ndarray, emotions: np.ndarray) -> np.ndarray:
        """Steps 1-4 (no state): strengths, lip/tongue offsets, emotion poses."""
        f = self.params.face
        w = lipsync * self._strength
        lip = f["lip_open_offset"]
        if lip > 0:
            w[:, _PARTING] += lip
        elif lip < 0:
            w[:, _PRESS] += -lip
            w[:, _PARTING] = np.maximum(w[:, _PARTING] + lip, 0.0)
        w[:, _TONGUE] = w[:, _TONGUE] * f["tongue_strength"] + f["tongue_depth_offset"]
        emo = (emotions @ EMOTION_POSES) * self._strength
        # np.minimum/maximum rather than np.clip: the same result at a fraction of the call
        # overhead, which dominates on the one or two frames of a typical call.
        closure = np.minimum(np.maximum(lipsync[:, _CLOSURE].max(axis=1) / CLOSURE_FULL, 0), 1)
        emo *= 1.0 - closure[:, None] * _LIP_OPENING
        w += emo
        return w

    def _eyes(
        self,
        row: list[float],
        t: float,
        speaking: bool,
        u_blink: float,
        u_sacc: float,
        target: np.ndarray,
    ) -> None:
        """Step 6-7 on one frame (in place): blinks, eyelid offsets, saccades."""
        f = self.params.face
        if self._was_speaking and not speaking:
            self._boost_until = t + BLINK_BOOST_S
        self._was_speaking = speaking
        since = t - self._blink_start
        rate = BLINK_RATE_HZ if since >= BLINK_REFRACTORY_S else 0.0
        if t < self._boost_until and since >= BLINK_BOOST_REFRACTORY_S:
            rate += BLINK_BOOST_HZ
        if since >= _BLINK_LEN_S and u_blink < 1.0 - math.exp(-rate * self._dt):
            self._blink_start = t
        blink = blink_profile(t - self._blink_start) if f["enable_blinks"] else 0.0
        lid = (blink + f["blink_offset"]) * f["blink_strength"] - f["eyelid_open_offset"]
        for b, w in _EYELIDS:
            closure = row[b] + lid
            row[b] = max(closure, 0.0)
            row[w] += max(-closure, 0.0)

        if t - self._last_saccade >= SACCADE_REFRACTORY_S and u_sacc < self._saccade_p:
            self._last_saccade = t
            self._gaze = np.clip(target * SACCADE_STD, -SACCADE_MAX, SACCADE_MAX)
        if f["enable_saccades"]:
            yaw, pitch = float(self._gaze[0]), float(self._gaze[1])  # yaw > 0: looks left
            row[_I["eyeLookOutLeft"]] += max(yaw, 0.0)
            row[_I["eyeLookInRight"]] += max(yaw, 0.0)
            row[_I["eyeLookInLeft"]] += max(-yaw, 0.0)
            row[_I["eyeLookOutRight"]] += max(-yaw, 0.0)
            for side in ("Left", "Right"):
                row[_I["eyeLookUp" + side]] += max(pitch, 0.0)
                row[_I["eyeLookDown" + side]] += max(-pitch, 0.0)

    def _head(self, jaw: float, speaking: bool, noise: list[float]) -> list[float]:
        """Step 8 on one frame: head yaw, pitch, roll in radians (pitch > 0 nods down).
        Python floats, not numpy: on three values numpy's per-call cost is most of the work."""
        a1, a2, rate, gain = self._a1, self._a2, self._amp_rate, self._head_gain
        c1 = math.sqrt(1 - a1 * a1)
        target = HEAD_AMP_SPEAKING if speaking else HEAD_AMP_SILENT
        hx, hy, amp = self._head_x, self._head_y, self._head_amp
        head = [0.0, 0.0, 0.0]
        for j in range(3):
            hx[j] = a1 * hx[j] + c1 * noise[j]
            hy[j] = a2 * hy[j] + (1 - a2) * hx[j]
            amp[j] += (target[j] - amp[j]) * rate
            head[j] = hy[j] * gain * amp[j]
        self._nod_fast += (jaw - self._nod_fast) * self._nod_fast_rate
        self._nod_slow += (jaw - self._nod_slow) * self._nod_slow_rate
        head[1] += NOD_GAIN * max(self._nod_fast - self._nod_slow, 0.0)
        return head
