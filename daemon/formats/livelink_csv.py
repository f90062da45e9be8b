"""Live Link Face CSV: the iPhone app's take export, which Unreal, Blender and Maya import.
Its values are the Live Link packet's 61 (facewire.livelink.codec), in the app's column
order."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence

import numpy as np

from facewire.arkit import ARKIT_NAMES, EMOTION_NAMES
from facewire.formats.animation import Animation, by_name
from facewire.livelink.codec import LIVELINK_NAMES, VALUE_COUNT, values_from_frame

# The Live Link Face app's CSV curve columns, in the app's order (which differs from ARKit's:
# JawRight before JawLeft, MouthRight before MouthLeft). Mapped to our names by name.
LIVELINK_CSV_COLUMNS: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight",
    "JawForward", "JawRight", "JawLeft", "JawOpen",
    "MouthClose", "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft",
    "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp",
    "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight",
    "NoseSneerLeft", "NoseSneerRight", "TongueOut",
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip
LIVELINK_CSV_HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount") + LIVELINK_CSV_COLUMNS
assert len(LIVELINK_CSV_COLUMNS) == VALUE_COUNT


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


# CSV column -> position in the packet-ordered 61 values of `values_from_frame`.
_CSV_FROM_PACKET = np.array([LIVELINK_NAMES.index(_camel(c)) for c in LIVELINK_CSV_COLUMNS])


# CSV column -> position in the packet-ordered 61 values of `values_from_frame`.
_CSV_FROM_PACKET = np.array([LIVELINK_NAMES.index(_camel(c)) for c in LIVELINK_CSV_COLUMNS])


def livelink_timecode(frame: int, fps: float) -> str:
    """The app's timecode for frame k of a stream: "HH:MM:SS:FF.fff".

    FF is the frame within the second at `fps`, and ".fff" the sub-frame in thousandths of
    a frame (the app's sub-frame; Epic's importer reads "FF.fff" as fractional frames), so
    frame 31 at 30 fps is "00:00:01:01.000". Non-integer rates put frame k at k / fps, which
    gives fractional frame positions.
    """
    if float(fps).is_integer():
        secs, ff = divmod(int(frame), int(fps))
        sub = float(ff)
    else:
        secs = math.floor(frame / fps)
        sub = round(frame - secs * fps, 3)
        if sub >= fps:  # rounding landed on the next second
            secs, sub = secs + 1, 0.0
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{sub:06.3f}"


def csv_text(anim: Animation) -> str:
    values = values_from_frame(anim.weights, anim.names)[:, _CSV_FROM_PACKET]
    buf = io.StringIO()
    buf.write(",".join(LIVELINK_CSV_HEADER) + "\n")
    count = str(VALUE_COUNT)
    for k in range(anim.n_frames):
        cells = ",".join(f"{v:.10f}" for v in values[k].tolist())
        buf.write(f"{livelink_timecode(k, anim.fps)},{count},{cells}\n")
    return buf.getvalue()


_TIMECODE = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2}):(\d+(?:\.\d*)?)\s*$")


def _parse_timecodes(cells: Sequence[str], src: str) -> tuple[np.ndarray, np.ndarray]:
    """(whole seconds, fractional frame within the second) per row."""
    secs = np.empty(len(cells), dtype=np.int64)
    frames = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        m = _TIMECODE.match(cell)
        if m is None:
            raise ValueError(f"{src}: row {i + 2} timecode {cell!r} is not HH:MM:SS:FF.fff")
        h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3))
        secs[i] = h * 3600 + mi * 60 + s
        frames[i] = float(m.group(4))
    return secs, frames


def _timecode_rate(secs: np.ndarray, frames: np.ndarray, src: str) -> float:
    """Infer the frames-per-second FF counts at: among rates above the largest FF, the one
    that makes the rows most evenly spaced (the app's 60-based timecode with 30 fps rows
    skips every other FF, so the largest FF alone can fall short)."""
    if len(secs) < 2 or secs.max() == secs.min():
        raise ValueError(
            f"{src}: the timecode never crosses a second, so its frame rate cannot be "
            "inferred; pass fps="
        )
    top = int(np.floor(frames.max())) + 1
    candidates = sorted({top, top + 1, *(r for r in (24, 25, 30, 48, 50, 60, 120) if r >= top)})
    best, best_spread = float(top), math.inf
    for rate in candidates:
        dt = np.diff(secs * rate + frames)
        spread = float(np.ptp(dt) / max(np.median(dt), 1e-9))
        if spread < best_spread - 1e-9:
            best, best_spread = float(rate), spread
    return best


def read_csv(text: str, src: str, fps: float | None) -> Animation:
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ValueError(f"{src}: a Live Link Face CSV needs a header and at least one row")
    header = [c.strip() for c in rows[0]]
    lower = [c.lower() for c in header]
    if lower[:2] != ["timecode", "blendshapecount"]:
        raise ValueError(f"{src}: the first columns must be Timecode, BlendShapeCount")
    body = rows[1:]
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"{src}: row {i + 2} has {len(row)} cells, header has {len(header)}")
    try:
        data = np.array([[float(c) for c in row[2:]] for row in body], dtype=np.float32)
    except ValueError as exc:
        raise ValueError(f"{src}: non-numeric curve value ({exc})") from exc
    data = data.reshape(len(body), len(header) - 2)

    emotion_of = {n.lower(): i for i, n in enumerate(EMOTION_NAMES)}
    rotation_of = {n.lower(): n for n in LIVELINK_NAMES[len(ARKIT_NAMES) :]}
    emotions = np.zeros((len(body), len(EMOTION_NAMES)), dtype=np.float32)
    curve_cols, curve_idx = [], []
    for j, col in enumerate(header[2:]):
        if col.lower() in emotion_of:
            emotions[:, emotion_of[col.lower()]] = data[:, j]
        else:
            curve_cols.append(rotation_of.get(col.lower(), col))
            curve_idx.append(j)
    names, weights = by_name(curve_cols, data[:, curve_idx])

    secs, frames = _parse_timecodes([row[0] for row in body], src)
    rate = float(fps) if fps is not None else _timecode_rate(secs, frames, src)
    pos = (secs - secs[0]) * rate + frames - frames[0]  # in timecode frames from row 0
    if len(pos) > 1:
        step = float(np.median(np.diff(pos)))
        if step <= 0:
            raise ValueError(f"{src}: timecodes do not increase")
        row_fps = rate / round(step) if abs(step - round(step)) < 0.05 else rate / step
    else:
        row_fps = rate
    times = pos / rate
    grid = np.arange(len(pos), dtype=np.float64) / row_fps
    timecodes = grid if np.abs(times - grid).max() < 0.25 / row_fps else times
    return Animation(
        fps=row_fps,
        names=names,
        timecodes=timecodes,
        weights=weights,
        emotion_names=list(EMOTION_NAMES),
        emotions=emotions,
        source=src,
    )
