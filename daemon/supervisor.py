"""Supervisor: builds the actors, starts them in dependency order, watches them.

Start order is downstream first (publish ... resample, then the sources and control), so
nothing is sent before its receiver exists; stop order is the reverse. A crashed actor is
restarted with exponential backoff (its inbox and stream state survive). SIGTERM drains:
sources close every stream, the pipeline flushes, every stream gets StreamEnded, then the
actors stop. SIGHUP re-reads the config: new streams get the new defaults, live streams
continue unchanged. READY=1 goes to systemd once every socket is bound and the engine is
loaded; WATCHDOG=1 only while every actor is alive and its loop is turning.
"""

from __future__ import annotations

import signal
import threading
import time

import structlog
import zmq

from facewire import config as config_mod
from facewire.actor import Actor
from facewire.actors.animate import AnimateActor
from facewire.actors.capture import CaptureActor
from facewire.actors.control import ControlActor
from facewire.actors.emotion import EmotionActor
from facewire.actors.inference import InferenceActor
from facewire.actors.ingest import IngestActor
from facewire.actors.publish import PublishActor
from facewire.actors.replay import ReplayActor
from facewire.actors.resample import ResampleActor
from facewire.arkit import ARKIT_NAMES, HEAD_NAMES
from facewire.config import Config
from facewire.engines.registry import load_engine
from facewire.sdnotify import Notifier, watchdog_interval_s
from facewire.security import Security

log = structlog.get_logger()

HEARTBEAT_STALE_S = 5.0  # an actor loop that has not turned for this long is unhealthy
BACKOFF_MAX_S = 5.0


class Supervisor:
    def __init__(self, cfg: Config, config_path: str | None = None, notifier=None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.security = Security(cfg.sockets)  # ConfigError before anything binds
        self.ctx = zmq.Context.instance()
        self.started_at = time.monotonic()
        self.engine = load_engine(cfg.daemon.engine, cfg.daemon.fps, cfg.daemon.engine_threads)
        self.actors: list[Actor] = []
        self.restarts: dict[str, int] = {}
        self._next_restart: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._stop = threading.Event()
        self._reload = threading.Event()

    # -- building ------------------------------------------------------------------------
    def _build(self) -> list[Actor]:
        cfg, hwm = self.cfg, self.cfg.sockets.queue_hwm
        fps = self.engine.fps
        info = {
            "names": list(ARKIT_NAMES + HEAD_NAMES),
            "fps": fps,
            "engine": self.engine.name,
            "model_id": self.engine.model_id,
            "lookahead_ms": self.engine.lookahead_s * 1000,
        }
        sinks = []
        if cfg.livelink.enabled:
            from facewire.actors.livelink import LiveLinkSink

            sinks.append(LiveLinkSink(cfg.livelink))
        actors: list[Actor] = [
            PublishActor(self.ctx, cfg.sockets.pub, info, hwm, cfg.sockets.pub_hwm_messages, sinks),
            AnimateActor(self.ctx, fps, cfg.daemon.seed, hwm),
            EmotionActor(self.ctx, fps, hwm),
            InferenceActor(self.ctx, self.engine, hwm, vad=cfg.daemon.vad),
            ResampleActor(self.ctx, hwm),
            IngestActor(self.ctx, cfg),
        ]
        source = cfg.daemon.source
        if source == "mic":
            actors.append(CaptureActor(self.ctx, cfg))
        elif source.startswith("file:"):
            actors.append(ReplayActor(self.ctx, cfg, source[len("file:") :]))
        elif source != "zmq":
            raise config_mod.ConfigError(f"daemon.source={source!r}: choose zmq, mic or file:PATH")
        actors.append(
            ControlActor(self.ctx, cfg.sockets.control, self, cfg.sockets.max_message_bytes)
        )
        return actors

    def actor(self, name: str) -> Actor | None:
        return next((a for a in self.actors if a.name == name), None)

    def start(self, timeout: float = 10.0) -> None:
        """Start every actor and wait until each has bound its sockets."""
        self.ctx = self.security.start(self.ctx)
        self.actors = self._build()
        for actor in self.actors:
            actor.start()
            if not actor.started.wait(timeout) or actor.failure is not None:
                reason = repr(actor.failure) if actor.failure else "start timed out"
                self.stop()
                raise RuntimeError(f"actor {actor.name} failed to start: {reason}")
        log.info(
            "daemon_ready",
            engine=self.engine.name,
            fps=self.engine.fps,
            actors=[a.name for a in self.actors],
        )
        self.notifier.ready(f"engine={self.engine.name}")

    # -- health and restarts ---------------------------------------------------------------
    def healthy(self) -> bool:
        now = time.monotonic()
        return all(a.alive and now - a.heartbeat < HEARTBEAT_STALE_S for a in self.actors)

    def check(self) -> None:
        """Restart crashed actors (with backoff); feed the watchdog only when healthy."""
        now = time.monotonic()
        for actor in self.actors:
            if actor.alive or self._stop.is_set():
                continue
            due = self._next_restart.get(actor.name)
            if due is None:
                delay = self._backoff.get(actor.name, 0.05)
                self._next_restart[actor.name] = now + delay
                self._backoff[actor.name] = min(delay * 2, BACKOFF_MAX_S)
                log.warning(
                    "actor_restart_scheduled",
                    actor=actor.name,
                    delay_s=delay,
                    error=repr(actor.failure),
                )
            elif now >= due:
                del self._next_restart[actor.name]
                self.restarts[actor.name] = self.restarts.get(actor.name, 0) + 1
                actor.start()
                log.warning("actor_restarted", actor=actor.name, restarts=self.restarts[actor.name])
        if self.healthy():
            self.notifier.watchdog()

    def open_streams(self) -> dict[str, int]:
        publish = self.actor("publish")
        return dict(publish.frames) if publish else {}

    def has_stream(self, stream_id: str) -> bool:
        """Whether a source has `stream_id` open (sources know first, publish last)."""
        for actor in self.actors:
            streams = getattr(actor, "streams", None)
            if hasattr(actor, "drain_reason") and isinstance(streams, dict):
                if stream_id in streams:
                    return True
        return stream_id in self.open_streams()

    def snapshot(self) -> dict:
        return {
            "engine": self.engine.name,
            "model_id": self.engine.model_id,
            "fps": self.engine.fps,
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "healthy": self.healthy(),
            "streams": self.open_streams(),
            "restarts": dict(self.restarts),
            "actors": {a.name: a.snapshot() for a in self.actors},
        }

    # -- reload, drain, stop ---------------------------------------------------------------
    def request_reload(self) -> None:
        self._reload.set()

    def request_stop(self) -> None:
        self._stop.set()

    def _do_reload(self) -> None:
        self.notifier.reloading()
        try:
            cfg = config_mod.load(self.config_path)
        except config_mod.ConfigError as exc:
            log.error("reload_failed", error=str(exc))
        else:
            # Only per-stream defaults change live; sockets and engine need a restart.
            self.cfg = cfg
            for actor in self.actors:
                if hasattr(actor, "cfg"):
                    actor.cfg = cfg
            log.info("config_reloaded", path=self.config_path)
        self.notifier.ready()

    def drain(self, timeout: float = 1.5) -> bool:
        """End every stream (StreamEnded for each) and wait for the pipeline to flush."""
        for actor in self.actors:
            if hasattr(actor, "drain_reason"):
                actor.drain_reason = "shutdown"
        sources = [a for a in self.actors if hasattr(a, "drain_reason")]
        publish = self.actor("publish")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            opened = sum(a.counters["streams_opened"] for a in sources)
            sources_idle = not any(
                getattr(a, "open", False) or getattr(a, "streams", None) for a in sources
            )
            if sources_idle and publish.counters["streams_ended"] >= opened:
                return True
            time.sleep(0.01)
        log.warning("drain_incomplete", streams=list(self.open_streams()))
        return False

    def stop(self) -> None:
        self.notifier.stopping()
        for actor in reversed(self.actors):
            actor.stop()
        self.security.stop()
        log.info("daemon_stopped")

    def install_signals(self) -> None:
        """SIGTERM/SIGINT drain and stop, SIGHUP reloads; installed before READY is sent."""
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())

    def run_forever(self) -> None:
        """Main loop of the `facewire run` process: health checks, reloads, shutdown."""
        interval = min(watchdog_interval_s() or 1.0, 1.0)
        last_watchdog = 0.0
        while not self._stop.is_set():
            self._stop.wait(0.05)
            if self._reload.is_set():
                self._reload.clear()
                self._do_reload()
            now = time.monotonic()
            if now - last_watchdog >= min(interval, 0.2):
                last_watchdog = now
                self.check()
        self.drain()
        self.stop()
