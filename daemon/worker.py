"""Worker processes: the per-stream pipeline in processes of its own, one per core.

One Python process runs Python code on one core at a time (the GIL), so with
`daemon.workers: N > 1` the supervisor starts N worker processes, each running the
pipeline actor (actors/pipeline.py) for the streams of its shard.
The daemon's ingest and control actors send a stream's messages to shard
`shard_of(stream_id, N)` over ipc; each worker's pipeline pushes frames to the daemon's publish
actor over ipc. The wire between them is the actors' own batch format, so an actor cannot
tell a worker's edge from an in-process one. A worker restarts its own crashed pipeline; if the
whole process dies the supervisor starts a new one and ends the streams the old one carried.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from facewire.backoff import BACKOFF_FIRST_S

if TYPE_CHECKING:
    from facewire.config import Config

# This module imports nothing heavy: `facewire run` spawns the workers before it imports the
# daemon's own modules, so the workers' imports and engine loads overlap the daemon's.
# worker_main imports what a worker runs.

READY_TIMEOUT_S = 60.0
# A worker's main loop stamps a shared heartbeat every 0.05 s while its pipeline is healthy.
# Older than WORKER_STALE_S: the daemon is unhealthy (no WATCHDOG=1). Older than
# WORKER_HUNG_S: the worker is hung (SIGSTOP, a deadlock) and is killed and replaced.
WORKER_STALE_S = 1.0
WORKER_HUNG_S = 3.0
REPORT_INTERVAL_S = 1.0  # how often a worker sends its pipeline's counters to the daemon


def endpoints(run_dir: str, workers: int) -> tuple[list[str], str, str]:
    """(shard inbox endpoints, publish endpoint, ingest endpoint: where a worker reports
    the audio it dropped for its age) inside the daemon's private run directory."""
    shards = [f"ipc://{run_dir}/shard-{k}" for k in range(workers)]
    return shards, f"ipc://{run_dir}/publish", f"ipc://{run_dir}/ingest"


def worker_main(cfg: Config, index: int, run_dir: str, ready: Any, heartbeat: Any) -> None:
    """Entry point of worker process `index` (multiprocessing spawn); sends its engine_info
    through the `ready` pipe once its actors run, then every REPORT_INTERVAL_S its pipeline's
    snapshot (counters, restarts) for `status`, and stamps `heartbeat` (a shared double,
    CLOCK_MONOTONIC seconds, which every process on the host shares) while it is healthy."""
    # Ctrl-C in a terminal reaches the whole process group; the daemon drains its streams
    # through the workers first and then stops them with SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import structlog
    import zmq

    from facewire import logs
    from facewire.actor import ActorGroup
    from facewire.actors.pipeline import pipeline_actor
    from facewire.engines.registry import load_engine
    from facewire.pipeline import emotion_model, engine_info

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logs.configure(cfg.daemon.log_format, cfg.daemon.log_level)
    log = structlog.get_logger(worker=index)
    ctx = zmq.Context()
    d = cfg.daemon
    engine = load_engine(d.engine, d.fps, d.engine_threads, d.engine_block_frames)
    shards, publish, ingest = endpoints(run_dir, cfg.daemon.workers)
    actor = pipeline_actor(ctx, cfg, engine, [publish], emotion_model(cfg))
    actor.binds.append(shards[index])
    actor.drop_reports = ingest
    group = ActorGroup([actor], log)
    group.start()
    ready.send(engine_info(engine))
    log.info("worker_ready", pid=os.getpid(), engine=engine.name)
    parent = os.getppid()
    reported = 0.0
    while not stop.wait(0.05):
        if os.getppid() != parent:  # the daemon is gone (SIGKILL): never outlive it
            break
        group.restart_crashed()
        now = time.monotonic()
        if group.healthy():
            heartbeat.value = now
        if now - reported >= REPORT_INTERVAL_S:
            reported = now
            ready.send({**actor.snapshot(), "restarts": dict(group.restarts)})
    ready.close()
    group.stop()
    ctx.term()
    log.info("worker_stopped")


@dataclass
class Worker:
    """The supervisor's handle on one worker process."""

    index: int
    process: Any = None
    conn: Any = None  # our end of the pipe the worker reports on: engine_info, then snapshots
    info: dict | None = None
    report: dict | None = None  # the worker pipeline's latest snapshot
    # The supervisor's health check (main thread) and `status` (control thread) both read
    # the pipe; a Connection is not safe to read from two threads at once.
    _reading: threading.Lock = field(default_factory=threading.Lock)
    restarts: int = 0
    backoff: float = BACKOFF_FIRST_S  # before the next restart; doubles while it keeps dying
    retry_at: float | None = None  # when a dead worker is due to be started again
    heartbeat: Any = None  # shared double the worker stamps while healthy (worker_main)

    def start(self, cfg: Config, run_dir: str) -> None:
        mp = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        conn, child = mp.Pipe(duplex=False)
        with self._reading:
            self.conn, self.info, self.report = conn, None, None
        self.heartbeat = mp.Value("d", time.monotonic(), lock=False)
        self.process = mp.Process(
            target=worker_main,
            args=(cfg, self.index, run_dir, child, self.heartbeat),
            name=f"facewire-worker-{self.index}",
            daemon=True,
        )
        self.process.start()
        child.close()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def silent_s(self) -> float:
        """Seconds since a ready worker last stamped its heartbeat (0 while it starts: an
        engine load is not a hang)."""
        if not self.alive or not self.ready():
            return 0.0
        return time.monotonic() - self.heartbeat.value

    def ready(self, timeout_s: float = 0.0) -> bool:
        """Whether the worker has started its actors (waiting up to timeout_s, or less if it
        dies first); reads the snapshots it has sent since."""
        with self._reading:
            return self._read(time.monotonic() + timeout_s)

    def _read(self, deadline: float) -> bool:
        while self.info is None:
            try:
                if self.conn.poll(min(0.1, max(0.0, deadline - time.monotonic()))):
                    self.info = self.conn.recv()
                    break
            except (EOFError, OSError):  # it died before reporting
                return False
            if time.monotonic() >= deadline or not self.alive:
                return False
        try:
            while self.conn.poll():
                self.report = self.conn.recv()
        except (EOFError, OSError):  # it stopped; its last snapshot stays
            pass
        return True

    def stop(self, timeout: float = 3.0) -> None:
        if self.process is None:
            return
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)

    def snapshot(self) -> dict:
        return {
            "pid": self.process.pid if self.process else None,
            "alive": self.alive,
            "ready": self.ready(),
            "restarts": self.restarts,
            "heartbeat_age_s": round(self.silent_s(), 3),
            "pipeline": self.report,
        }


@dataclass
class WorkerPool:
    """The worker processes and the private directory of their ipc sockets."""

    run_dir: str
    workers: list[Worker]

    @classmethod
    def spawn(cls, cfg: Config) -> WorkerPool:
        """Start cfg.daemon.workers processes (in parallel; `Worker.ready` waits for each)."""
        run_dir = tempfile.mkdtemp(prefix="facewire-")  # mode 0700: ours alone
        workers = [Worker(k) for k in range(cfg.daemon.workers)]
        for w in workers:
            w.start(cfg, run_dir)
        return cls(run_dir, workers)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)
