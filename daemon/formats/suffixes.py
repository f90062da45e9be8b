"""The one suffix registry: which file names hold what, for every part of facewire.

Animation files (the `convert` outputs, recordings, `plot` inputs) by format name, audio
files `convert` takes from a directory, and the picture `plot` writes.
"""

from __future__ import annotations

from pathlib import Path

# Animation suffix -> format name; longest first, so "take.a2f.json" is A2F, not JSON.
ANIMATION_SUFFIXES: dict[str, str] = {
    ".a2f.json": "a2f",
    ".json": "json",
    ".csv": "csv",
    ".npz": "npz",
}
# What read_audio_file (libsndfile) reads, for inputs found in a directory.
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")
PLOT_SUFFIX = ".png"  # `facewire plot` and `convert --plot`


def animation_suffix(path: str | Path) -> str | None:
    """The animation suffix a file name ends in (case-insensitive), or None."""
    name = Path(path).name.lower()
    return next((s for s in ANIMATION_SUFFIXES if name.endswith(s)), None)


def suffix_for(fmt: str) -> str:
    """The file suffix of animation format `fmt`."""
    return next(s for s, f in ANIMATION_SUFFIXES.items() if f == fmt)


def format_for_path(path: str | Path) -> str:
    """The format a file name implies: ".a2f.json" -> "a2f", ".json", ".csv", ".npz".

    Raises:
        ValueError: for any other extension.
    """
    suffix = animation_suffix(path)
    if suffix is None:
        raise ValueError(
            f"cannot tell the animation format of {str(path)!r} from its extension; use "
            f"{', '.join(ANIMATION_SUFFIXES)}, or pass fmt= one of "
            f"{', '.join(sorted(set(ANIMATION_SUFFIXES.values())))}"
        )
    return ANIMATION_SUFFIXES[suffix]


def plot_path(dest: str | Path) -> Path:
    """OUT.png beside an animation file: `take.a2f.json` -> `take.png`."""
    dest = Path(dest)
    suffix = animation_suffix(dest)
    stem = dest.name[: -len(suffix)] if suffix else dest.name
    return dest.with_name(stem + PLOT_SUFFIX)


def is_audio(path: str | Path) -> bool:
    return Path(path).suffix.lower() in AUDIO_SUFFIXES
