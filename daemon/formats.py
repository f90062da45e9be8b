"""Animation files that animators' tools already read: facewire JSON, Live Link Face CSV,
Audio2Face blendshape JSON and NumPy archives.

`write_animation` picks the format from the file name (".json", ".csv", ".a2f.json",
".npz") or an explicit `fmt`, `read_animation` from the file's content or an explicit
`fmt`; `AnimationRecorder` collects a live stream's frames for the daemon's recording
feature. docs/FORMATS.md documents every field and the public files and importers each
format was checked against.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from facewire.arkit import ARKIT_INDEX, ARKIT_NAMES, EMOTION_NAMES
from facewire.livelink import LIVELINK_NAMES, VALUE_COUNT, values_from_frame

# Format name -> what it is (CLI help text).
FORMATS: dict[str, str] = {
    "json": "facewire JSON (.json): names, timecodes, weights and emotions per frame",
    "csv": "Live Link Face CSV (.csv): the iPhone app's take export, for Unreal/Blender/Maya",
    "a2f": "Audio2Face blendshape JSON (.a2f.json): A2F's exportFps/facsNames/weightMat",
    "npz": "NumPy archive (.npz): the same arrays as facewire JSON, binary",
}
_TEXT_FORMATS = ("json", "csv", "a2f")

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


@dataclass(eq=False)
class Animation:
    """A face animation: one row of weights and emotions per frame, frame k at k / fps.

    Attributes:
        fps: frames per second.
        names: channel names: the 52 ARKit names in canonical order, then extras such as
            headYaw/headPitch/headRoll (radians).
        timecodes: (T,) float64 seconds, k / fps (a CSV read from elsewhere keeps its own
            times if its rows are irregular).
        weights: (T, len(names)) float32.
        emotion_names: the emotion classes (A2E's ten, `facewire.arkit.EMOTION_NAMES`).
        emotions: (T, len(emotion_names)) float32 probabilities.
        source: where it came from (audio or file path), "" if unknown.
    """

    fps: float
    names: list[str]
    timecodes: np.ndarray
    weights: np.ndarray
    emotion_names: list[str]
    emotions: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        self.fps = float(self.fps)
        self.names = list(self.names)
        self.emotion_names = list(self.emotion_names)
        self.timecodes = np.asarray(self.timecodes, dtype=np.float64)
        self.weights = np.asarray(self.weights, dtype=np.float32)
        self.emotions = np.asarray(self.emotions, dtype=np.float32)
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be positive, got {self.fps}")
        if tuple(self.names[: len(ARKIT_NAMES)]) != ARKIT_NAMES:
            raise ValueError("names must start with the 52 ARKit names in canonical order")
        if len(set(self.names)) != len(self.names):
            raise ValueError("channel names must be unique")
        t = self.timecodes.shape[0] if self.timecodes.ndim == 1 else -1
        if self.weights.shape != (t, len(self.names)):
            raise ValueError(
                f"weights shape {self.weights.shape} != (frames {t}, names {len(self.names)})"
            )
        if self.emotions.shape != (t, len(self.emotion_names)):
            raise ValueError(
                f"emotions shape {self.emotions.shape} != "
                f"(frames {t}, emotion names {len(self.emotion_names)})"
            )
        for what, arr in (("timecodes", self.timecodes), ("weights", self.weights),
                          ("emotions", self.emotions)):  # fmt: skip
            if not np.isfinite(arr).all():
                raise ValueError(f"{what} contain NaN or infinity")

    @classmethod
    def build(
        cls,
        fps: float,
        weights: np.ndarray,
        names: Sequence[str] | None = None,
        emotions: np.ndarray | None = None,
        source: str = "",
    ) -> Animation:
        """An animation on the k / fps grid from bare arrays.

        Args:
            fps: frames per second.
            weights: (T, C) float array.
            names: C channel names; None means the 52 ARKit names.
            emotions: (T, 10) A2E probabilities; None means all zero.
            source: where it came from.
        """
        w = np.asarray(weights, dtype=np.float32)
        if w.ndim != 2:
            raise ValueError(f"weights must be (T, C), got shape {w.shape}")
        emo = (
            np.zeros((w.shape[0], len(EMOTION_NAMES)), dtype=np.float32)
            if emotions is None
            else emotions
        )
        return cls(
            fps=fps,
            names=list(ARKIT_NAMES if names is None else names),
            timecodes=np.arange(w.shape[0], dtype=np.float64) / float(fps),
            weights=w,
            emotion_names=list(EMOTION_NAMES),
            emotions=emo,
            source=source,
        )

    @property
    def n_frames(self) -> int:
        """Number of frames T."""
        return int(self.weights.shape[0])

    def channel(self, name: str) -> np.ndarray:
        """One channel over time, (T,) float32."""
        return self.weights[:, self.names.index(name)]


class AnimationRecorder:
    """Collects a live stream's frames into an `Animation`, a frame or a batch at a time.

    Rows go into preallocated float32 buffers that double when full, so recording costs
    amortised O(1) per frame and 4 bytes per value, with no per-frame Python objects.
    """

    def __init__(
        self,
        fps: float,
        names: Sequence[str] | None = None,
        emotion_names: Sequence[str] = EMOTION_NAMES,
        capacity: int = 1024,
        source: str = "",
    ) -> None:
        """Start an empty recording.

        Args:
            fps: the stream's frames per second.
            names: channel names (None: the 52 ARKit names).
            emotion_names: emotion classes (A2E's ten by default).
            capacity: initial rows preallocated.
            source: where the stream came from, copied into the animation.
        """
        self.fps = float(fps)
        self.names = list(ARKIT_NAMES if names is None else names)
        self.emotion_names = list(emotion_names)
        self.source = source
        cap = max(1, int(capacity))
        self._weights = np.zeros((cap, len(self.names)), dtype=np.float32)
        self._emotions = np.zeros((cap, len(self.emotion_names)), dtype=np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, weights: np.ndarray, emotions: np.ndarray | None = None) -> None:
        """Append one frame ((C,) rows) or a batch ((n, C) rows).

        Args:
            weights: (C,) or (n, C) weights in `names` order.
            emotions: (10,) or (n, 10) probabilities; None records zeros.
        """
        w = np.asarray(weights, dtype=np.float32)
        w = w[None, :] if w.ndim == 1 else w
        if w.ndim != 2 or w.shape[1] != len(self.names):
            raise ValueError(f"weights shape {w.shape} does not match {len(self.names)} channels")
        n = w.shape[0]
        if emotions is None:
            e = np.zeros((n, len(self.emotion_names)), dtype=np.float32)
        else:
            e = np.asarray(emotions, dtype=np.float32)
            e = e[None, :] if e.ndim == 1 else e
        if e.shape != (n, len(self.emotion_names)):
            raise ValueError(f"emotions shape {e.shape} != ({n}, {len(self.emotion_names)})")
        need = self._n + n
        if need > self._weights.shape[0]:
            cap = self._weights.shape[0]
            while cap < need:
                cap *= 2
            self._weights = _grown(self._weights, cap, self._n)
            self._emotions = _grown(self._emotions, cap, self._n)
        self._weights[self._n : need] = w
        self._emotions[self._n : need] = e
        self._n = need

    def to_animation(self) -> Animation:
        """The frames so far as an `Animation` (a copy; recording may continue)."""
        return Animation(
            fps=self.fps,
            names=self.names,
            timecodes=np.arange(self._n, dtype=np.float64) / self.fps,
            weights=self._weights[: self._n].copy(),
            emotion_names=self.emotion_names,
            emotions=self._emotions[: self._n].copy(),
            source=self.source,
        )


def _grown(buf: np.ndarray, rows: int, used: int) -> np.ndarray:
    out = np.zeros((rows, buf.shape[1]), dtype=buf.dtype)
    out[:used] = buf[:used]
    return out


# ---------------------------------------------------------------- format selection


def format_for_path(path: str | Path) -> str:
    """The format a file name implies: ".a2f.json" -> "a2f", ".json", ".csv", ".npz".

    Raises:
        ValueError: for any other extension.
    """
    name = Path(path).name.lower()
    for suffix, fmt in ((".a2f.json", "a2f"), (".json", "json"), (".csv", "csv"), (".npz", "npz")):
        if name.endswith(suffix):
            return fmt
    raise ValueError(
        f"cannot tell the animation format of {str(path)!r} from its extension; use "
        f".json, .csv, .a2f.json or .npz, or pass fmt= one of {', '.join(FORMATS)}"
    )


def _check_fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown animation format {fmt!r}; known: {', '.join(FORMATS)}")
    return fmt


def write_animation(anim: Animation, dest: str | Path | IO, fmt: str | None = None) -> None:
    """Write `anim` to a path, an open file, or "-" (stdout).

    Args:
        anim: the animation.
        dest: file path, "-" for stdout (text formats only), or an open file (text mode for
            json/csv/a2f, binary for npz).
        fmt: "json", "csv", "a2f" or "npz"; None picks it from the file name.

    Raises:
        ValueError: unknown format or extension, or npz asked for stdout.
    """
    if fmt is None:
        if isinstance(dest, (str, Path)):
            if str(dest) == "-":
                raise ValueError(f"writing to stdout needs fmt= one of {', '.join(_TEXT_FORMATS)}")
            fmt = format_for_path(dest)
        else:
            name = getattr(dest, "name", None)
            if not isinstance(name, str):
                raise ValueError("an open file without a name needs an explicit fmt=")
            fmt = format_for_path(name)
    fmt = _check_fmt(fmt)

    if fmt == "npz":
        if isinstance(dest, (str, Path)) and str(dest) == "-":
            raise ValueError("npz is binary and cannot go to stdout; give a .npz file path")
        _write_npz(anim, dest)
        return
    text = {"json": _json_text, "csv": _csv_text, "a2f": _a2f_text}[fmt](anim)
    if isinstance(dest, (str, Path)):
        if str(dest) == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            with open(dest, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
    else:
        dest.write(text)


def read_animation(path: str | Path, fmt: str | None = None, fps: float | None = None) -> Animation:
    """Read an animation file written by us or by the tools each format comes from.

    Args:
        path: the file.
        fmt: "json", "csv", "a2f" or "npz"; None tells them apart by content (a file
            keeps working whatever it was renamed to, e.g. A2F JSON saved as `take.json`).
        fps: CSV only: the timecode's frame rate (FF counts frames at this rate). Needed
            only for a CSV whose timecode never crosses a second; otherwise inferred.

    Raises:
        ValueError: unknown format, content that is none of the four, malformed content,
            or `fps` given for a format that stores its own.
        OSError: the file cannot be read.
    """
    src = str(path)
    data = Path(path).read_bytes()
    fmt = _check_fmt(_format_of(data, path) if fmt is None else fmt)
    if fps is not None and fmt != "csv":
        raise ValueError(f"{fmt} files store their fps; fps= applies to CSV only")
    if fmt == "npz":
        return _read_npz(io.BytesIO(data), src)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{src}: not UTF-8 text, so not {FORMATS[fmt]} ({exc})") from None
    if fmt == "csv":
        return _read_csv(text, src, fps)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{src}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{src}: expected a JSON object")
    return _read_json(doc, src) if fmt == "json" else _read_a2f(doc, src)


_A2F_KEYS = ("exportFps", "facsNames", "weightMat")


def sniff_format(data: bytes) -> str | None:
    """Which of the four formats a file's bytes are, by content alone; None if unsure.

    npz files are zip archives ("PK"); a JSON object with A2F's `facsNames`/`weightMat`
    is A2F, one with `weights` is facewire JSON; text whose first cell is `Timecode` is a
    Live Link Face CSV.
    """
    if data[:4] == b"PK\x03\x04":
        return "npz"
    head = data[:4096].decode("utf-8-sig", errors="replace").lstrip()
    if head.startswith("{"):
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if isinstance(doc, dict) and any(k in doc for k in _A2F_KEYS):
            return "a2f"
        if isinstance(doc, dict) and "weights" in doc:
            return "json"
        return None
    if head.split(",", 1)[0].strip().lower() == "timecode":
        return "csv"
    return None


def _format_of(data: bytes, path: str | Path) -> str:
    """By content; failing that by extension, so a damaged file gets that format's own
    error (a missing key, a bad header) rather than a vague one."""
    fmt = sniff_format(data)
    if fmt is not None:
        return fmt
    try:
        return format_for_path(path)
    except ValueError:
        raise ValueError(
            f"{path}: not an animation file facewire reads (facewire JSON, Live Link Face "
            "CSV, Audio2Face JSON or NumPy .npz)"
        ) from None


def _require(doc: dict, keys: Sequence[str], what: str) -> None:
    missing = [k for k in keys if k not in doc]
    if missing:
        raise ValueError(f"{what} lacks keys: {', '.join(missing)}")


def _matrix(rows: object, cols: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a list of equal-length number rows") from exc
    if arr.size == 0:
        return np.zeros((0, cols), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != cols:
        raise ValueError(f"{what} has shape {arr.shape}; every row needs {cols} values")
    return arr


def _fps_number(fps: float) -> int | float:
    return int(fps) if float(fps).is_integer() else float(fps)


# ---------------------------------------------------------------- facewire JSON


def _json_text(anim: Animation) -> str:
    doc = {
        "fps": _fps_number(anim.fps),
        "names": anim.names,
        "timecodes": anim.timecodes.tolist(),
        "weights": np.round(anim.weights.astype(np.float64), 6).tolist(),
        "emotion_names": anim.emotion_names,
        "emotions": np.round(anim.emotions.astype(np.float64), 6).tolist(),
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n"


def _read_json(doc: dict, src: str) -> Animation:
    what = f"{src}: facewire JSON"
    _require(doc, ("fps", "names", "timecodes", "weights", "emotion_names", "emotions"), what)
    names = [str(n) for n in doc["names"]]
    emotion_names = [str(n) for n in doc["emotion_names"]]
    return Animation(
        fps=float(doc["fps"]),
        names=names,
        timecodes=np.asarray(doc["timecodes"], dtype=np.float64).reshape(-1),
        weights=_matrix(doc["weights"], len(names), f"{what} 'weights'"),
        emotion_names=emotion_names,
        emotions=_matrix(doc["emotions"], len(emotion_names), f"{what} 'emotions'"),
        source=src,
    )


# ---------------------------------------------------------------- Audio2Face JSON


def _a2f_text(anim: Animation) -> str:
    doc = {
        "exportFps": _fps_number(anim.fps),
        "trackPath": anim.source,
        "numPoses": len(ARKIT_NAMES),
        "numFrames": anim.n_frames,
        "facsNames": list(ARKIT_NAMES),
        "weightMat": np.round(anim.weights[:, : len(ARKIT_NAMES)].astype(np.float64), 6).tolist(),
    }
    return json.dumps(doc, indent=4, allow_nan=False) + "\n"


def _read_a2f(doc: dict, src: str) -> Animation:
    what = f"{src}: Audio2Face JSON"
    _require(doc, ("exportFps", "facsNames", "weightMat"), what)
    facs = [str(n) for n in doc["facsNames"]]
    mat = _matrix(doc["weightMat"], len(facs), f"{what} 'weightMat'")
    for key, want in (("numPoses", len(facs)), ("numFrames", mat.shape[0])):
        if key in doc and int(doc[key]) != want:
            raise ValueError(f"{what}: {key} is {doc[key]} but the data has {want}")
    fps = float(doc["exportFps"])
    names, weights = _by_name(facs, mat)
    return Animation.build(fps, weights, names, source=str(doc.get("trackPath") or src))


def _by_name(columns: Sequence[str], data: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Columns matched to ARKit names case-insensitively, in canonical order; others kept
    after them as extras; ARKit shapes the file lacks are zero (A2F solves subsets)."""
    lookup = {n.lower(): n for n in ARKIT_NAMES}
    extras: list[str] = []
    rows = data.shape[0]
    out = np.zeros((rows, len(ARKIT_NAMES)), dtype=np.float32)
    extra_cols: list[np.ndarray] = []
    for j, col in enumerate(columns):
        key = lookup.get(col.lower())
        if key is not None:
            out[:, ARKIT_INDEX[key]] = data[:, j]
        else:
            extras.append(col)
            extra_cols.append(data[:, j])
    if extra_cols:
        out = np.concatenate([out, np.stack(extra_cols, axis=1)], axis=1)
    return list(ARKIT_NAMES) + extras, out


# ---------------------------------------------------------------- NumPy archive


def _write_npz(anim: Animation, dest: str | Path | IO) -> None:
    if isinstance(dest, (str, Path)):
        # Through an open file: given a path, numpy appends ".npz" to any other name, and
        # the file would not be where the caller (and `convert`'s report) says it is.
        with open(dest, "wb") as fh:
            _write_npz(anim, fh)
        return
    np.savez_compressed(
        dest,
        weights=anim.weights,
        names=np.array(anim.names, dtype=np.str_),
        timecodes=anim.timecodes,
        emotions=anim.emotions,
        emotion_names=np.array(anim.emotion_names, dtype=np.str_),
        fps=np.float64(anim.fps),
    )


def _read_npz(path: str | Path | IO, src: str) -> Animation:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{src}: not a readable NumPy archive ({exc})") from None
    with archive as z:
        _require(z, ("weights", "names", "timecodes", "emotions", "emotion_names", "fps"),
                 f"{src}: npz")  # fmt: skip
        return Animation(
            fps=float(z["fps"]),
            names=[str(n) for n in z["names"]],
            timecodes=z["timecodes"],
            weights=z["weights"],
            emotion_names=[str(n) for n in z["emotion_names"]],
            emotions=z["emotions"],
            source=src,
        )


# ---------------------------------------------------------------- Live Link Face CSV


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


def _csv_text(anim: Animation) -> str:
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


def _read_csv(text: str, src: str, fps: float | None) -> Animation:
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
    names, weights = _by_name(curve_cols, data[:, curve_idx])

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
