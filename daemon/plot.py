"""A one-page picture of an animation, to eyeball lip-sync and emotion without a 3D rig.

Needs matplotlib (the `plot` extra); it is imported only when a plot is drawn, so the daemon
never pays for it. Uses the Agg canvas directly (no pyplot state), so it is safe to call
from any thread and on headless machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facewire.formats import Animation

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# (panel title, [(channel names summed into one line, label)]) top to bottom.
PANELS: tuple[tuple[str, tuple[tuple[tuple[str, ...], str], ...]], ...] = (
    ("jaw", ((("jawOpen",), "jawOpen"), (("mouthClose",), "mouthClose"))),
    ("rounding", ((("mouthFunnel", "mouthPucker"), "mouthFunnel+mouthPucker"),)),
    ("smile", ((("mouthSmileLeft",), "mouthSmileLeft"), (("mouthSmileRight",), "mouthSmileRight"))),
    ("blink", ((("eyeBlinkLeft",), "eyeBlinkLeft"), (("eyeBlinkRight",), "eyeBlinkRight"))),
    (
        "brows",
        ((("browInnerUp",), "browInnerUp"), (("browDownLeft", "browDownRight"), "browDown L+R")),
    ),
)


def _matplotlib_figure(size_px: tuple[int, int], dpi: int) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "plotting needs matplotlib; install the plot extra: pip install 'facewire[plot]'"
        ) from exc
    fig = Figure(figsize=(size_px[0] / dpi, size_px[1] / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _label(ax: Axes, text: str) -> None:
    ax.text(0.003, 0.95, text, transform=ax.transAxes, va="top", fontweight="bold")


def plot_animation(
    anim: Animation,
    out_png: str | Path,
    size_px: tuple[int, int] = (1600, 1000),
    dpi: int = 100,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Draw the key mouth, eye and brow curves and a stacked emotion track over time.

    Args:
        anim: the animation.
        out_png: where to write the PNG.
        size_px: (width, height) of the image in pixels.
        dpi: dots per inch (sets text size relative to the image).
        metadata: extra PNG text chunks (key -> text), e.g. what the picture was made from.

    Returns:
        The PNG path.

    Raises:
        ImportError: matplotlib is not installed (names the `plot` extra).
        ValueError: the animation has no frames.
    """
    if anim.n_frames == 0:
        raise ValueError("the animation has no frames to plot")
    fig = _matplotlib_figure(size_px, dpi)
    t = anim.timecodes
    axes = fig.subplots(len(PANELS) + 1, 1, sharex=True)
    for ax, (title, lines) in zip(axes, PANELS, strict=False):
        for channels, label in lines:
            ax.plot(t, sum(anim.channel(c) for c in channels), label=label, linewidth=1.0)
        _label(ax, title)
        ax.set_ylim(-0.02, max(1.02, ax.get_ylim()[1]))
        ax.legend(loc="upper right", fontsize="x-small", ncol=2)
        ax.grid(alpha=0.3)
    emo_ax = axes[-1]
    emotions = np.clip(anim.emotions, 0.0, None).T  # (10, T)
    emo_ax.stackplot(t, emotions, labels=anim.emotion_names)
    _label(emo_ax, "emotion")
    emo_ax.set_ylim(0.0, max(1.0, float(emotions.sum(axis=0).max())))
    emo_ax.legend(loc="upper right", fontsize="xx-small", ncol=5)
    emo_ax.set_xlabel("time (s)")
    emo_ax.set_xlim(float(t[0]), float(t[-1]) if len(t) > 1 else float(t[0]) + 1.0 / anim.fps)
    title = f"{anim.n_frames} frames at {anim.fps:g} fps"
    fig.suptitle(f"{anim.source}  ({title})" if anim.source else title)
    out = Path(out_png)
    fig.savefig(out, format="png", dpi=dpi, metadata=metadata)
    return out
