"""Coarticulation teacher: phone timings (+ loudness) -> ARKit mouth curves at 100 Hz.

A Cohen-Massaro dominance model. Every phone has a target pose (POSES; documented in
training/TEACHER.md) and, per channel group, a dominance magnitude and left/right decay rates.
Each channel at time t is the dominance-weighted mean of the targets of all phones near t,
so neighbours blend: /h/ and /k/ take the shape of the vowel around them, rounding spreads
forward into earlier consonants (anticipatory rounding, slow left decay), while bilabials
dominate the lips. Diphthongs have two targets (first 55 %, last 45 % of the segment). Jaw
channels scale with the loudness envelope (louder speech opens wider, relative to the
utterance median, so input gain does not matter). Hard guarantee applied last: on every
/p b m/ the lips meet (aperture 0) over the segment's middle.

Frame j of the output is t = j / 100 s, the centre of feature frame j.
"""

from __future__ import annotations

import numpy as np

FRAME_RATE = 100.0

# Channels the teacher drives (mirrored pairs are one channel, written to Left and Right).
CHANNELS = (
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthStretch",
    "mouthSmile",
    "mouthLowerDown",
    "mouthUpperUp",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthPress",
    "mouthShrugLower",
    "mouthShrugUpper",
    "tongueOut",
)
CH = {n: i for i, n in enumerate(CHANNELS)}
MIRRORED = {"mouthStretch", "mouthSmile", "mouthLowerDown", "mouthUpperUp", "mouthPress"}
GROUPS = {  # channel -> dominance group
    "jawOpen": "jaw",
    "mouthLowerDown": "jaw",
    "mouthUpperUp": "jaw",
    "mouthShrugLower": "jaw",
    "mouthShrugUpper": "jaw",
    "mouthClose": "lips",
    "mouthPress": "lips",
    "mouthRollLower": "lips",
    "mouthRollUpper": "lips",
    "mouthFunnel": "round",
    "mouthPucker": "round",
    "mouthStretch": "round",
    "mouthSmile": "round",
    "tongueOut": "tongue",
}
GROUP_NAMES = ("jaw", "lips", "round", "tongue")


def arkit_columns() -> list[list[int]]:
    """For each teacher channel, the ARKit indices (facewire.arkit order) it drives."""
    from facewire.arkit import ARKIT_NAMES

    cols = []
    for name in CHANNELS:
        names = [name + "Left", name + "Right"] if name in MIRRORED else [name]
        cols.append([ARKIT_NAMES.index(n) for n in names])
    return cols


def _p(**kw: float) -> dict[str, float]:
    return kw


# Target poses. Bilabials: jawOpen == mouthClose, so the lips meet with the jaw slightly open.
POSES: dict[str, dict[str, float]] = {
    "": _p(),
    "P": _p(
        jawOpen=0.07, mouthClose=0.07, mouthPress=0.45, mouthRollLower=0.1, mouthRollUpper=0.05
    ),
    "B": _p(
        jawOpen=0.07, mouthClose=0.07, mouthPress=0.35, mouthRollLower=0.1, mouthRollUpper=0.05
    ),
    "M": _p(jawOpen=0.06, mouthClose=0.06, mouthPress=0.25, mouthRollLower=0.05),
    "F": _p(jawOpen=0.08, mouthRollLower=0.55, mouthUpperUp=0.2, mouthShrugUpper=0.1),
    "V": _p(jawOpen=0.08, mouthRollLower=0.5, mouthUpperUp=0.15, mouthShrugUpper=0.1),
    "TH": _p(jawOpen=0.14, tongueOut=0.4, mouthUpperUp=0.05),
    "DH": _p(jawOpen=0.13, tongueOut=0.3, mouthUpperUp=0.05),
    "L": _p(jawOpen=0.2, tongueOut=0.15, mouthLowerDown=0.05),
    "S": _p(jawOpen=0.05, mouthStretch=0.25, mouthUpperUp=0.1, mouthLowerDown=0.1),
    "Z": _p(jawOpen=0.05, mouthStretch=0.2, mouthUpperUp=0.1, mouthLowerDown=0.1),
    "SH": _p(
        jawOpen=0.08,
        mouthFunnel=0.45,
        mouthPucker=0.2,
        mouthUpperUp=0.2,
        mouthLowerDown=0.15,
        mouthShrugUpper=0.15,
    ),
    "ZH": _p(jawOpen=0.08, mouthFunnel=0.4, mouthPucker=0.2, mouthUpperUp=0.2, mouthLowerDown=0.15),
    "CH": _p(
        jawOpen=0.08,
        mouthFunnel=0.4,
        mouthPucker=0.25,
        mouthUpperUp=0.2,
        mouthLowerDown=0.1,
        mouthShrugUpper=0.15,
    ),
    "JH": _p(jawOpen=0.08, mouthFunnel=0.4, mouthPucker=0.2, mouthUpperUp=0.15, mouthLowerDown=0.1),
    "T": _p(jawOpen=0.1, mouthLowerDown=0.08),
    "D": _p(jawOpen=0.1, mouthLowerDown=0.08),
    "N": _p(jawOpen=0.1, mouthLowerDown=0.05),
    "K": _p(jawOpen=0.15),
    "G": _p(jawOpen=0.14),
    "NG": _p(jawOpen=0.12),
    "HH": _p(jawOpen=0.2),
    "R": _p(jawOpen=0.12, mouthFunnel=0.35, mouthPucker=0.2, mouthShrugUpper=0.1),
    "W": _p(jawOpen=0.05, mouthPucker=0.75, mouthFunnel=0.35),
    "Y": _p(jawOpen=0.08, mouthStretch=0.3, mouthSmile=0.1),
    "AA": _p(jawOpen=0.6, mouthLowerDown=0.3, mouthUpperUp=0.1),
    "AE": _p(jawOpen=0.5, mouthStretch=0.2, mouthLowerDown=0.35, mouthUpperUp=0.15),
    "AH": _p(jawOpen=0.42, mouthLowerDown=0.2),
    "AO": _p(jawOpen=0.5, mouthFunnel=0.4, mouthLowerDown=0.15),
    "AX": _p(jawOpen=0.22, mouthLowerDown=0.05),
    "EH": _p(jawOpen=0.36, mouthStretch=0.2, mouthLowerDown=0.2),
    "ER": _p(jawOpen=0.18, mouthFunnel=0.35, mouthPucker=0.15),
    "IH": _p(jawOpen=0.2, mouthStretch=0.35, mouthSmile=0.1),
    "IY": _p(jawOpen=0.1, mouthStretch=0.5, mouthSmile=0.2, mouthUpperUp=0.1),
    "UH": _p(jawOpen=0.2, mouthFunnel=0.45, mouthPucker=0.35),
    "UW": _p(jawOpen=0.1, mouthPucker=0.8, mouthFunnel=0.5),
    "OW": _p(jawOpen=0.38, mouthFunnel=0.6, mouthPucker=0.35, mouthLowerDown=0.1),
}
DIPHTHONGS = {
    "AY": ("AA", "IY"),
    "AW": ("AA", "UW"),
    "OY": ("AO", "IY"),
    "EY": ("EH", "IY"),
    "OW": ("OW", "UW"),
}
VOWELS = {
    "AA",
    "AE",
    "AH",
    "AO",
    "AX",
    "EH",
    "ER",
    "IH",
    "IY",
    "UH",
    "UW",
    "OW",
    "AY",
    "AW",
    "OY",
    "EY",
}
ROUNDED = {"UW", "UH", "OW", "W", "AO", "OY", "ER", "R", "SH", "ZH", "CH", "JH"}
BILABIAL = {"P", "B", "M"}


def dominance(phone: str) -> dict[str, tuple[float, float, float]]:
    """Per group: (magnitude, left decay 1/s, right decay 1/s) of a phone's dominance."""
    base = {
        "jaw": (1.0, 30.0, 30.0),
        "lips": (1.0, 30.0, 30.0),
        "round": (1.0, 30.0, 30.0),
        "tongue": (1.0, 40.0, 40.0),
    }
    if phone == "":
        return {g: (0.6, 40.0, 40.0) for g in GROUP_NAMES}
    if phone in BILABIAL:
        base |= {"lips": (20.0, 45.0, 45.0), "jaw": (4.0, 40.0, 40.0), "round": (0.3, 40.0, 40.0)}
    elif phone in {"F", "V"}:
        base |= {"lips": (10.0, 45.0, 45.0), "jaw": (2.0, 40.0, 40.0), "round": (0.3, 40.0, 40.0)}
    elif phone in {"TH", "DH", "L"}:
        base |= {"tongue": (6.0, 45.0, 45.0), "lips": (0.3, 40.0, 40.0)}
    elif phone in {"HH", "K", "G", "NG", "T", "D", "N", "Y"}:
        base = {g: (0.25, 40.0, 40.0) for g in GROUP_NAMES}
        if phone in {"T", "D", "N"}:
            base["jaw"] = (0.8, 40.0, 40.0)
    elif phone in {"S", "Z", "SH", "ZH", "CH", "JH"}:
        base |= {"jaw": (2.0, 40.0, 40.0), "round": (1.5, 35.0, 35.0), "lips": (0.5, 40.0, 40.0)}
    if phone in ROUNDED and phone in VOWELS | {"W"}:
        base["round"] = (3.0, 12.0, 25.0)  # anticipatory rounding: slow decay to the left
    return base


def _targets(phones: list[tuple[float, float, str]]):
    """Expand diphthongs: (start, end, pose label, dominance label) per sub-target."""
    out = []
    for a, b, lab in phones:
        if lab in DIPHTHONGS:
            first, second = DIPHTHONGS[lab]
            m = a + 0.55 * (b - a)
            out += [(a, m, first, lab), (m, b, second, lab)]
        else:
            if lab not in POSES:
                raise KeyError(f"teacher has no pose for phone {lab!r}")
            out.append((a, b, lab, lab))
    return out


def loudness_scale(pcm_f32: np.ndarray, frames: int) -> np.ndarray:
    """Per-frame jaw scale in [0.85, 1.15] from the 100 Hz RMS envelope, gain invariant."""
    hop = 160
    n = frames * hop
    x = np.zeros(n + 400, dtype=np.float32)
    x[200 : 200 + min(len(pcm_f32), n)] = pcm_f32[:n]
    win = x[: (n // hop) * hop + 400]
    idx = np.arange(frames)[:, None] * hop + np.arange(400)[None, :]
    db = 10 * np.log10(np.mean(win[idx] ** 2, axis=1) + 1e-10)
    voiced = db > db.max() - 40
    ref = np.median(db[voiced]) if voiced.any() else db.max()
    scale = 1.0 + np.clip((db - ref) / 20.0, -1.0, 1.0) * 0.15
    kern = np.ones(5) / 5
    return np.convolve(np.pad(scale, 2, mode="edge"), kern, mode="valid").astype(np.float32)


def teacher_curves(
    phones: list[tuple[float, float, str]], frames: int, pcm_f32: np.ndarray | None = None
) -> np.ndarray:
    """Teacher channels (frames, len(CHANNELS)) float32 at 100 Hz for one utterance.

    Args:
        phones: (start s, end s, canonical label) intervals, sorted.
        frames: number of 100 Hz frames to produce (frame j at t = j / 100).
        pcm_f32: the clean 16 kHz audio, for loudness scaling (None: no scaling).
    """
    t = np.arange(frames) / FRAME_RATE
    num = np.zeros((frames, len(CHANNELS)))
    den = np.zeros((frames, len(CHANNELS)))
    # Rest dominance everywhere, weak, so a frame far from every phone rests.
    num += 0.0
    den += 1e-3
    ch_group = np.array([GROUP_NAMES.index(GROUPS[c]) for c in CHANNELS])
    for a, b, pose_lab, dom_lab in _targets(phones):
        lo, hi = np.searchsorted(t, a - 0.4), np.searchsorted(t, b + 0.4)
        if hi <= lo:
            continue
        tt = t[lo:hi]
        left = np.clip(a - tt, 0, None)
        right = np.clip(tt - b, 0, None)
        dom = dominance(dom_lab)
        target = np.zeros(len(CHANNELS))
        for name, v in POSES[pose_lab].items():
            target[CH[name]] = v
        for gi, g in enumerate(GROUP_NAMES):
            mag, kl, kr = dom[g]
            d = mag * np.exp(-kl * left - kr * right)
            cols = ch_group == gi
            num[lo:hi, cols] += d[:, None] * target[cols][None, :]
            den[lo:hi, cols] += d[:, None]
    out = num / den
    if pcm_f32 is not None:
        s = loudness_scale(pcm_f32, frames)[:, None]
        for name in ("jawOpen", "mouthLowerDown", "mouthUpperUp"):
            out[:, CH[name]] *= s[:, 0]
    # Hard guarantee: the lips meet on every /p b m/ (middle 60 % of the segment, >= 1 frame).
    for a, b, lab in phones:
        if lab not in BILABIAL:
            continue
        m0, m1 = a + 0.2 * (b - a), b - 0.2 * (b - a)
        idx = np.where((t >= m0) & (t <= m1))[0]
        if len(idx) == 0:
            idx = np.array([min(frames - 1, int(round((a + b) / 2 * FRAME_RATE)))])
        out[idx, CH["mouthLowerDown"]] = 0.0
        out[idx, CH["mouthUpperUp"]] = 0.0
        out[idx, CH["mouthClose"]] = out[idx, CH["jawOpen"]]
    out[:, CH["mouthClose"]] = np.minimum(out[:, CH["mouthClose"]], out[:, CH["jawOpen"]])
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def aperture(curves: np.ndarray) -> np.ndarray:
    """Lip aperture as lipsync_score.py defines it, on teacher channels (frames, C)."""
    return (
        np.clip(curves[..., CH["jawOpen"]] - curves[..., CH["mouthClose"]], 0, None)
        + 0.5 * curves[..., CH["mouthLowerDown"]]
        + 0.5 * curves[..., CH["mouthUpperUp"]]
    )
