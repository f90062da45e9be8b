"""Supervisor: builds the actors, starts them in dependency order, watches them.

Start order is downstream first (publish ... resample, then the sources and control), so
nothing is sent before its receiver exists; stop order is the reverse. A crashed actor is
restarted with exponential backoff (its inbox and stream state survive). SIGTERM drains:
sources close every stream, the pipeline flushes, every stream gets StreamEnded, then the
actors stop. SIGHUP re-reads the config: new streams get the new defaults, live streams
continue unchanged. READY=1 goes to systemd once every socket is bound and the engine is
loaded; WATCHDOG=1 only while every actor is alive and its loop is turning, and every
worker process stamps its heartbeat.
With `daemon.workers > 1` the per-stream actors run in worker processes (facewire.worker);
a worker that dies, or hangs (no heartbeat for WORKER_HUNG_S) and is killed, is replaced,
and only the streams it carried end ("worker_restarted"), at once.
"""

from __future__ import annotations

import signal
import threading
import time

import structlog
import zmq

from facewire import config as config_mod
from facewire.actor import Actor, ActorGroup
from facewire.actors.capture import CaptureActor
from facewire.actors.control import ControlActor
from facewire.actors.ingest import IngestActor
from facewire.actors.pipeline import pipeline_actor
from facewire.actors.publish import PublishActor
from facewire.actors.replay import ReplayActor
from facewire.actors.source import Source
from facewire.arkit import ARKIT_NAMES, HEAD_NAMES
from facewire.backoff import next_backoff
from facewire.config import Config
from facewire.engines.registry import load_engine
from facewire.messages import Message, send
from facewire.pipeline import emotion_model, engine_info
from facewire.sdnotify import Notifier, watchdog_interval_s
from facewire.security import Security
from facewire.worker import (
    READY_TIMEOUT_S,
    WORKER_HUNG_S,
    WORKER_STALE_S,
    Worker,
    WorkerPool,
    endpoints,
)

# Longest wait for every stream's StreamEnded at shutdown. An idle daemon drains in
# milliseconds; an overloaded one is behind by up to AUDIO_MAX_AGE_S (about 1 s) of queued
# audio, which must be flushed first. The systemd units' TimeoutStopSec leaves room for it.
DRAIN_TIMEOUT_S = 4.0

log = structlog.get_logger()


class Supervisor:
    def __init__(
        self,
        cfg: Config,
        config_path: str | None = None,
        notifier=None,
        pool: WorkerPool | None = None,
    ) -> None:
        """`pool`: worker processes already spawned (`facewire run` spawns them first, so
        they start while this process imports); with workers > 1 and none, start() spawns."""
        self.cfg = cfg = config_mod.resolve_workers(cfg)
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.security = Security(cfg.sockets)  # ConfigError before anything binds
        self.ctx = zmq.Context.instance()
        self.started_at = time.monotonic()
        # With worker processes the engine runs only there (each loads its own), and
        # `info` comes from the first worker's report.
        self.engine = None
        self.info: dict = {}
        # Loaded here even with workers (they load their own): a bad file fails at start.
        self.emotion = emotion_model(cfg)
        if cfg.daemon.workers == 1:
            d = cfg.daemon
            self.engine = load_engine(d.engine, d.fps, d.engine_threads, d.engine_block_frames)
            self.info = engine_info(self.engine)
        self.actors: list[Actor] = []
        self.group = ActorGroup([], log)
        self.pool = pool
        if cfg.daemon.workers > 1 and cfg.daemon.source != "zmq":
            raise config_mod.ConfigError(
                f"daemon.workers={cfg.daemon.workers} needs daemon.source zmq "
                f"(a {cfg.daemon.source} source is one stream: use workers: 1)"
            )
        self._stop = threading.Event()
        self._reload = threading.Event()

    # -- building ------------------------------------------------------------------------
    def _build(self) -> list[Actor]:
        cfg, hwm = self.cfg, self.cfg.sockets.queue_hwm
        info = {"names": list(ARKIT_NAMES + HEAD_NAMES), **self.info}
        sinks = []
        if cfg.livelink.enabled:
            from facewire.livelink.sink import LiveLinkSink

            sinks.append(LiveLinkSink(cfg.livelink))
        publish = PublishActor(
            self.ctx, cfg.sockets.pub, info, hwm, cfg.sockets.pub_hwm_messages, sinks
        )
        if self.pool:
            shards, publish_endpoint, ingest_endpoint = endpoints(
                self.pool.run_dir, len(self.workers)
            )
            publish.binds = [publish_endpoint]
            ingest = IngestActor(self.ctx, cfg, downstream=shards)
            ingest.binds = [ingest_endpoint]  # the workers' stale-audio reports
            actors: list[Actor] = [publish, ingest]
        else:
            shards = "pipeline"
            actors = [
                publish,
                pipeline_actor(self.ctx, cfg, self.engine, "publish", self.emotion),
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
            ControlActor(self.ctx, cfg.sockets.control, self, cfg.sockets.max_message_bytes, shards)
        )
        return actors

    def actor(self, name: str) -> Actor | None:
        """The actor called `name`."""
        for a in self.actors:
            if a.name == name:
                return a
        return None

    @property
    def sources(self) -> list[Source]:
        return [a for a in self.actors if isinstance(a, Source)]

    def start(self, timeout: float = 10.0) -> None:
        """Start the workers and every actor; wait until each has bound its sockets."""
        self.ctx = self.security.start(self.ctx)
        if self.cfg.daemon.workers > 1:
            self.pool = self.pool or WorkerPool.spawn(self.cfg)
            for w in self.workers:
                if not w.ready(READY_TIMEOUT_S):
                    self.stop()
                    raise RuntimeError(
                        f"worker {w.index} did not start (exit code {w.process.exitcode}); "
                        "its error is in the log above"
                    )
            self.info = self.workers[0].info
        self.actors = self._build()
        self.group = ActorGroup(self.actors, log)
        self.group.start(timeout)
        log.info(
            "daemon_ready",
            engine=self.info["engine"],
            fps=self.info["fps"],
            actors=[a.name for a in self.actors],
            workers=len(self.workers),
        )
        self.notifier.ready(f"engine={self.info['engine']}")

    @property
    def workers(self) -> list[Worker]:
        return self.pool.workers if self.pool else []

    @property
    def restarts(self) -> dict[str, int]:
        """Restarts per actor, and per worker process as worker-K."""
        out = dict(self.group.restarts)
        out.update({f"worker-{w.index}": w.restarts for w in self.workers if w.restarts})
        return out

    # -- health and restarts ---------------------------------------------------------------
    def healthy(self) -> bool:
        return self.group.healthy() and all(
            w.alive and w.silent_s() < WORKER_STALE_S for w in self.workers
        )

    def check(self) -> None:
        """Restart crashed actors and workers, kill hung workers (they are replaced like
        dead ones); feed the watchdog only when healthy."""
        if not self._stop.is_set():
            self.group.restart_crashed()
            for w in self.workers:
                silent = w.silent_s()
                if silent > WORKER_HUNG_S:
                    log.error("worker_hung", worker=w.index, silent_s=round(silent, 2))
                    w.process.kill()
                    w.process.join(1.0)
                if not w.alive:
                    self._replace_worker(w)
        if self.cfg.daemon.watchdog and self.healthy():
            self.notifier.watchdog()

    def _replace_worker(self, w: Worker) -> None:
        """A worker died: end the streams it carried at once (their state died with it;
        every other stream goes on), then start a new one after a backoff that doubles while
        it keeps dying (a worker that cannot start must not be respawned in a tight loop)."""
        now = time.monotonic()
        if w.retry_at is None:
            log.error("worker_died", worker=w.index, exitcode=w.process.exitcode, retry_s=w.backoff)
            w.retry_at = now + w.backoff
            w.backoff = next_backoff(w.backoff)
            # Its streams end now, whether or not a replacement ever comes up: ingest
            # forgets them and tells their clients, publish sends their StreamEnded.
            lost = Message("lost_shard", "", {"shard": w.index, "shards": len(self.workers)})
            for name in ("ingest", "publish"):
                self.tell(name, lost)
        elif now >= w.retry_at:
            w.retry_at = None
            w.restarts += 1
            w.start(self.cfg, self.pool.run_dir)
            log.warning("worker_restarted", worker=w.index, restarts=w.restarts)

    def tell(self, actor: str, msg: Message) -> None:
        """Send `msg` to an actor's inbox, from the supervisor's thread (on a socket of its
        own: sockets never cross threads)."""
        sock = self.ctx.socket(zmq.PUSH)
        sock.linger = 1000  # inproc delivers at send; linger only covers a full inbox
        try:
            sock.connect(f"inproc://{actor}")
            send(sock, [msg])
        finally:
            sock.close()

    def open_streams(self) -> dict[str, int]:
        publish = self.actor("publish")
        return dict(publish.frames) if publish else {}

    def has_stream(self, stream_id: str) -> bool:
        """Whether a source has `stream_id` open (sources know first, publish last)."""
        if any(stream_id in a.streams for a in self.sources if isinstance(a, IngestActor)):
            return True
        return stream_id in self.open_streams()

    def snapshot(self) -> dict:
        return {
            "engine": self.info["engine"],
            "model_id": self.info["model_id"],
            "fps": self.info["fps"],
            "uptime_s": round(time.monotonic() - self.started_at, 3),
            "healthy": self.healthy(),
            "streams": self.open_streams(),
            "restarts": self.restarts,
            "actors": {a.name: a.snapshot() for a in self.actors},
            "workers": [w.snapshot() for w in self.workers],
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
            self.cfg = config_mod.resolve_workers(cfg)
            update = Message("config", "", {"config": config_mod.to_dict(cfg)})
            for source in self.sources:
                self.tell(source.name, update)
            log.info("config_reloaded", path=self.config_path)
        self.notifier.ready()

    def drain(self, timeout: float = DRAIN_TIMEOUT_S) -> bool:
        """End every stream (StreamEnded for each) and wait for the pipeline to flush."""
        sources = self.sources
        for source in sources:
            self.tell(source.name, Message("drain", "", {"reason": "shutdown"}))
        publish = self.actor("publish")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            opened = sum(a.counters["streams_opened"] for a in sources)
            # Until a source has taken its drain command, it may still be open: wait for it.
            drained = all(a.drain_reason is not None and not a.busy for a in sources)
            if drained and publish.counters["streams_ended"] >= opened:
                return True
            time.sleep(0.01)
        log.warning("drain_incomplete", streams=list(self.open_streams()))
        return False

    def stop(self) -> None:
        self.notifier.stopping()
        self.group.stop()
        if self.pool:
            self.pool.stop()
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
