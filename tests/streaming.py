"""Ways of feeding audio to an engine that the engine tests share."""

from __future__ import annotations

import numpy as np


def stream_in_chunks(engine, pcm_f32: np.ndarray, chunk: int) -> np.ndarray:
    """One stream, `chunk` samples per process() call, then an empty final call."""
    st = engine.new_stream()
    out = [
        engine.process([(st, pcm_f32[i : i + chunk], False)])[0]
        for i in range(0, len(pcm_f32), chunk)
    ]
    out.append(engine.process([(st, np.zeros(0, np.float32), True)])[0])
    return np.concatenate(out)


def feed_together(engine, pcms, chunks) -> list[np.ndarray]:
    """Feed streams side by side, one process() call per tick, ragged chunk sizes; each
    stream's last chunk carries final=True."""
    states = [engine.new_stream() for _ in pcms]
    outs: list[list[np.ndarray]] = [[] for _ in pcms]
    pos = [0] * len(pcms)
    ended = [False] * len(pcms)
    while not all(ended):
        batch, who = [], []
        for i, (p, c) in enumerate(zip(pcms, chunks, strict=True)):
            if ended[i]:
                continue
            piece = p[pos[i] : pos[i] + c]
            pos[i] += c
            ended[i] = pos[i] >= len(p)
            batch.append((states[i], piece, ended[i]))
            who.append(i)
        for i, frames in zip(who, engine.process(batch), strict=True):
            outs[i].append(frames)
    return [np.concatenate(o) for o in outs]
