"""The per-stream pipeline: what runs in the daemon's process or in each worker process."""

from __future__ import annotations

import zmq

from facewire.actors.animate import AnimateActor
from facewire.actors.emotion import EmotionActor
from facewire.actors.inference import InferenceActor
from facewire.actors.resample import ResampleActor
from facewire.chain import ChainActor
from facewire.config import Config, ConfigError
from facewire.engines.base import Engine
from facewire.engines.emotion_model import (
    EmotionModel,
    EmotionModelError,
    RulesModel,
    load_emotion_model,
)


def emotion_model(cfg: Config) -> EmotionModel | RulesModel:
    """The estimator daemon.emotion_model names; a file that is not one is a ConfigError."""
    try:
        return load_emotion_model(cfg.daemon.emotion_model)
    except EmotionModelError as exc:
        raise ConfigError(f"daemon.emotion_model: {exc}") from None


def pipeline(
    ctx: zmq.Context,
    cfg: Config,
    engine: Engine,
    publish: str | list[str],
    emotion: EmotionModel | RulesModel,
) -> ChainActor:
    """The per-stream actors as one chain (facewire.chain); `publish` is where it sends
    frames: "publish" in process, or the daemon's ipc endpoint; `emotion` is shared by all
    the chain's streams."""
    stages = [
        ResampleActor(ctx, engine.fps),
        InferenceActor(ctx, engine, vad=cfg.daemon.vad),
        EmotionActor(ctx, engine.fps, emotion),
        AnimateActor(ctx, engine.fps, cfg.daemon.seed),
    ]
    return ChainActor(ctx, stages, publish, cfg.sockets.queue_hwm)


def engine_info(engine: Engine) -> dict:
    """What StreamStarted and `status` say about the engine."""
    return {
        "engine": engine.name,
        "model_id": engine.model_id,
        "fps": engine.fps,
        "lookahead_ms": engine.lookahead_s * 1000,
    }
