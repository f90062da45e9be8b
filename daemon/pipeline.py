"""The per-stream pipeline: what runs in the daemon's process or in each worker process."""

from __future__ import annotations

import zmq

from facewire.actors.animate import AnimateActor
from facewire.actors.emotion import EmotionActor
from facewire.actors.inference import InferenceActor
from facewire.actors.resample import ResampleActor
from facewire.chain import ChainActor
from facewire.config import Config
from facewire.engines.base import Engine


def pipeline(ctx: zmq.Context, cfg: Config, engine: Engine, publish: str | list[str]) -> ChainActor:
    """The per-stream actors as one chain (facewire.chain); `publish` is where it sends
    frames: "publish" in process, or the daemon's ipc endpoint."""
    hwm = cfg.sockets.queue_hwm
    stages = [
        ResampleActor(ctx, engine.fps, hwm),
        InferenceActor(ctx, engine, hwm, vad=cfg.daemon.vad),
        EmotionActor(ctx, engine.fps, hwm),
        AnimateActor(ctx, engine.fps, cfg.daemon.seed, hwm),
    ]
    return ChainActor(ctx, stages, publish, hwm)


def engine_info(engine: Engine) -> dict:
    """What StreamStarted and `status` say about the engine."""
    return {
        "engine": engine.name,
        "model_id": engine.model_id,
        "fps": engine.fps,
        "lookahead_ms": engine.lookahead_s * 1000,
    }
