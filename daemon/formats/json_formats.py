"""facewire JSON and Audio2Face blendshape JSON (docs/FORMATS.md has every field)."""

from __future__ import annotations

import json

import numpy as np

from facewire.arkit import ARKIT_NAMES
from facewire.formats.animation import Animation, by_name, fps_number, matrix, require

A2F_KEYS = ("exportFps", "facsNames", "weightMat")


def json_text(anim: Animation) -> str:
    doc = {
        "fps": fps_number(anim.fps),
        "names": anim.names,
        "timecodes": anim.timecodes.tolist(),
        "weights": np.round(anim.weights.astype(np.float64), 6).tolist(),
        "emotion_names": anim.emotion_names,
        "emotions": np.round(anim.emotions.astype(np.float64), 6).tolist(),
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n"


def read_json(doc: dict, src: str) -> Animation:
    what = f"{src}: facewire JSON"
    require(doc, ("fps", "names", "timecodes", "weights", "emotion_names", "emotions"), what)
    names = [str(n) for n in doc["names"]]
    emotion_names = [str(n) for n in doc["emotion_names"]]
    return Animation(
        fps=float(doc["fps"]),
        names=names,
        timecodes=np.asarray(doc["timecodes"], dtype=np.float64).reshape(-1),
        weights=matrix(doc["weights"], len(names), f"{what} 'weights'"),
        emotion_names=emotion_names,
        emotions=matrix(doc["emotions"], len(emotion_names), f"{what} 'emotions'"),
        source=src,
    )


def a2f_text(anim: Animation) -> str:
    doc = {
        "exportFps": fps_number(anim.fps),
        "trackPath": anim.source,
        "numPoses": len(ARKIT_NAMES),
        "numFrames": anim.n_frames,
        "facsNames": list(ARKIT_NAMES),
        "weightMat": np.round(anim.weights[:, : len(ARKIT_NAMES)].astype(np.float64), 6).tolist(),
    }
    return json.dumps(doc, indent=4, allow_nan=False) + "\n"


def read_a2f(doc: dict, src: str) -> Animation:
    what = f"{src}: Audio2Face JSON"
    require(doc, ("exportFps", "facsNames", "weightMat"), what)
    facs = [str(n) for n in doc["facsNames"]]
    mat = matrix(doc["weightMat"], len(facs), f"{what} 'weightMat'")
    for key, want in (("numPoses", len(facs)), ("numFrames", mat.shape[0])):
        if key in doc and int(doc[key]) != want:
            raise ValueError(f"{what}: {key} is {doc[key]} but the data has {want}")
    fps = float(doc["exportFps"])
    names, weights = by_name(facs, mat)
    return Animation.build(fps, weights, names, source=str(doc.get("trackPath") or src))
