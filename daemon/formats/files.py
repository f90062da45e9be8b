"""Reading and writing animation files: the format from the name (facewire.formats.suffixes)
or the content, then the codec of that format."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import IO

from facewire.formats.animation import Animation
from facewire.formats.json_formats import A2F_KEYS, a2f_text, json_text, read_a2f, read_json
from facewire.formats.livelink_csv import csv_text, read_csv
from facewire.formats.npz import read_npz, write_npz
from facewire.formats.suffixes import format_for_path

# Format name -> what it is (CLI help text).
FORMATS: dict[str, str] = {
    "json": "facewire JSON (.json): names, timecodes, weights and emotions per frame",
    "csv": "Live Link Face CSV (.csv): the iPhone app's take export, for Unreal/Blender/Maya",
    "a2f": "Audio2Face blendshape JSON (.a2f.json): A2F's exportFps/facsNames/weightMat",
    "npz": "NumPy archive (.npz): the same arrays as facewire JSON, binary",
}
_TEXT_FORMATS = ("json", "csv", "a2f")


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
        write_npz(anim, dest)
        return
    text = {"json": json_text, "csv": csv_text, "a2f": a2f_text}[fmt](anim)
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
        return read_npz(io.BytesIO(data), src)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{src}: not UTF-8 text, so not {FORMATS[fmt]} ({exc})") from None
    if fmt == "csv":
        return read_csv(text, src, fps)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{src}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{src}: expected a JSON object")
    return read_json(doc, src) if fmt == "json" else read_a2f(doc, src)


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
        if isinstance(doc, dict) and any(k in doc for k in A2F_KEYS):
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
