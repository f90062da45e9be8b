"""NumPy archives: the arrays of facewire JSON, binary and compressed."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np

from facewire.formats.animation import Animation, require


def write_npz(anim: Animation, dest: str | Path | IO) -> None:
    if isinstance(dest, (str, Path)):
        # Through an open file: given a path, numpy appends ".npz" to any other name, and
        # the file would not be where the caller (and `convert`'s report) says it is.
        with open(dest, "wb") as fh:
            write_npz(anim, fh)
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


def read_npz(path: str | Path | IO, src: str) -> Animation:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{src}: not a readable NumPy archive ({exc})") from None
    with archive as z:
        require(z, ("weights", "names", "timecodes", "emotions", "emotion_names", "fps"),
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
