"""daemon.workers > 1: the per-stream pipeline in worker processes (real processes, ipc)."""

from __future__ import annotations

import math
import os
import signal
import threading
import time

import numpy as np
import pytest

from facewire.client import Client, Control, Subscriber, wait_for_subscription
from facewire.messages import shard_of
from facewire.wire import Code
from tests.conftest import offline_diff
from tests.test_faults import _blocks, _start_pushers

WORKERS = {"daemon": {"engine": "dsp", "workers": 2}}


def _ids(shard: int, count: int, prefix: str) -> list[str]:
    """Stream ids that the daemon's two workers place on `shard`."""
    out, i = [], 0
    while len(out) < count:
        sid = f"{prefix}{i}"
        if shard_of(sid, 2) == shard:
            out.append(sid)
        i += 1
    return out


def _collect(sub: Subscriber, sids: set[str], timeout_s: float = 30) -> tuple[dict, dict]:
    frames: dict[str, list] = {sid: [] for sid in sids}
    ended: dict[str, object] = {}
    deadline = time.monotonic() + timeout_s
    while len(ended) < len(sids):
        assert time.monotonic() < deadline, f"only {sorted(ended)} ended"
        item = sub.recv(5)
        assert item is not None, f"only {sorted(ended)} ended"
        sid, kind, body = item
        if sid in frames and kind == "animation_frame":
            frames[sid].append(body)
        elif sid in frames and kind == "stream_ended":
            ended[sid] = body
    return frames, ended


def test_streams_on_both_workers_equal_their_offline_convert(start_daemon, example_pcm, tmp_path):
    d = start_daemon(WORKERS)
    status = Control(d.control).status()
    assert [w["alive"] and w["ready"] for w in status["workers"]] == [True, True]
    assert set(status["actors"]) == {"publish", "ingest", "control"}
    pcm, rate = example_pcm
    sids = _ids(0, 2, "a") + _ids(1, 2, "b")
    signals = {sid: np.roll(pcm, i * rate // 3) for i, sid in enumerate(sids)}

    def push(sid):
        with Client(d.ingest) as c:
            c.send_pcm(sid, signals[sid], rate, chunk_ms=20)

    with Subscriber(d.pub) as sub, Client(d.ingest) as probe:
        wait_for_subscription(sub, probe)
        threads = [threading.Thread(target=push, args=(sid,)) for sid in sids]
        for t in threads:
            t.start()
        frames, ended = _collect(sub, set(sids))
        for t in threads:
            t.join(10)
    for sid, sig in signals.items():
        assert offline_diff(tmp_path, sid, sig, rate, frames[sid]) <= 1e-4, sid
        assert ended[sid].reason == "closed"
    # Each worker reports its pipeline's counters: status sees every frame they made.
    published = sum(len(f) for f in frames.values())
    deadline = time.monotonic() + 10
    while True:
        reports = [w["pipeline"] for w in Control(d.control).status()["workers"]]
        made = [r["counters"].get("frames", 0) if r else 0 for r in reports]
        if sum(made) == published:
            break
        assert time.monotonic() < deadline, f"workers report {made} frames of {published}"
        time.sleep(0.2)
    assert all(made), "both workers carried streams"


def _start_victim_and_survivor(d, victim, survivor, pcm, rate, stop) -> list:
    """Two live clients, started: the survivor closes its stream after the clip, the victim
    keeps its stream open until `stop`."""

    def push(sid):
        with Client(d.ingest) as c:
            c.open_stream(sid, rate)
            for i, b in enumerate(_blocks(pcm, rate)):
                c.send_audio(sid, i, b)
                time.sleep(0.02)
            if sid == survivor:
                c.close_stream(sid)
            stop.wait(10)

    threads = [threading.Thread(target=push, args=(sid,)) for sid in (victim, survivor)]
    for t in threads:
        t.start()
    return threads


def test_a_killed_worker_is_replaced_and_only_its_streams_end(start_daemon, example_pcm):
    d = start_daemon(WORKERS)
    ctl = Control(d.control)
    pids = [w["pid"] for w in ctl.status()["workers"]]
    pcm, rate = example_pcm
    victim, survivor = _ids(0, 1, "v")[0], _ids(1, 1, "s")[0]
    stop = threading.Event()
    with Subscriber(d.pub) as sub, Client(d.ingest) as probe:
        wait_for_subscription(sub, probe)
        threads = _start_victim_and_survivor(d, victim, survivor, pcm, rate, stop)
        seen: set[str] = set()
        while seen != {victim, survivor}:  # both animate before the crash
            item = sub.recv(10)
            assert item is not None
            if item[1] == "animation_frame":
                seen.add(item[0])
        os.kill(pids[0], signal.SIGKILL)
        frames, ended = _collect(sub, {victim, survivor})
        stop.set()
        for t in threads:
            t.join(10)
    assert ended[victim].reason == "worker_restarted"
    assert ended[survivor].reason == "closed"
    seqs = [f.seq for f in frames[survivor]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the other worker's stream went on"
    status = ctl.status()
    assert status["restarts"] == {"worker-0": 1}
    assert status["workers"][0]["pid"] != pids[0] and status["workers"][0]["alive"]
    # The replacement serves its shard: a new stream there gets every frame.
    with Client(d.ingest) as c, Subscriber(d.pub, victim + "-after") as s:
        wait_for_subscription(s, c, probe_id=victim + "-after-probe")
        c.send_pcm(victim + "-after", pcm, rate)
        _, after, end = s.collect(victim + "-after", timeout_s=30)
    assert end.reason == "closed" and [f.seq for f in after] == list(range(len(after)))


def test_a_hung_worker_stops_the_watchdog_and_is_replaced(start_daemon, example_pcm):
    d = start_daemon(WORKERS)
    ctl = Control(d.control)
    pids = [w["pid"] for w in ctl.status()["workers"]]
    pcm, rate = example_pcm
    pcm = np.tile(pcm, 3)  # 9 s: the survivor still streams when the hang is detected
    victim, survivor = _ids(0, 1, "h")[0], _ids(1, 1, "k")[0]
    stop = threading.Event()
    with Subscriber(d.pub) as sub, Client(d.ingest) as probe:
        wait_for_subscription(sub, probe)
        threads = _start_victim_and_survivor(d, victim, survivor, pcm, rate, stop)
        seen: set[str] = set()
        while seen != {victim, survivor}:
            item = sub.recv(10)
            assert item is not None
            if item[1] == "animation_frame":
                seen.add(item[0])
        d.wait_for("WATCHDOG=1", 5)
        hung_at = time.monotonic()
        os.kill(pids[0], signal.SIGSTOP)  # alive but frozen: only its heartbeat tells
        ended: dict = {}
        while victim not in ended:
            item = sub.recv(15)
            assert item is not None, "the hung worker's stream never ended"
            if item[1] == "stream_ended":
                ended[item[0]] = item[2]
        replaced_at = time.monotonic()
        if survivor not in ended:
            ended.update(_collect(sub, {survivor})[1])
        stop.set()
        for t in threads:
            t.join(10)
    assert ended[victim].reason == "worker_restarted"
    assert ended[survivor].reason == "closed"
    assert ended[survivor].frames == math.ceil(len(pcm) / rate * 30), "the other worker went on"
    # the reader appends the time first, so zip stops at the last complete pair
    notified = zip(d.notified_at, d.notifications, strict=False)
    pings = [t for t, n in notified if "WATCHDOG=1" in n]
    during = [hung_at] + [t for t in pings if hung_at < t < replaced_at] + [replaced_at]
    assert max(np.diff(during)) >= 1.0, "the watchdog kept going while a worker hung"
    status = ctl.status()
    assert status["restarts"] == {"worker-0": 1}
    assert status["workers"][0]["pid"] != pids[0] and status["workers"][0]["alive"]


def test_sigterm_drains_every_worker_stream_and_stops_the_workers(start_daemon, example_pcm):
    d = start_daemon(WORKERS)
    pids = [w["pid"] for w in Control(d.control).status()["workers"]]
    pcm, rate = example_pcm
    sids = _ids(0, 3, "x") + _ids(1, 3, "y")
    stop, sent = threading.Event(), {}

    with Subscriber(d.pub) as sub, Client(d.ingest) as probe:
        wait_for_subscription(sub, probe)
        threads = _start_pushers(d, sids, pcm, rate, stop, sent)
        seen: set[str] = set()
        while seen != set(sids):
            item = sub.recv(10)
            assert item is not None
            if item[1] == "animation_frame":
                seen.add(item[0])
        d.signal(signal.SIGTERM)
        frames, ended = _collect(sub, set(sids))
        stop.set()
        for t in threads:
            t.join(10)
    assert d.proc.wait(10) == 0
    assert {e.reason for e in ended.values()} == {"shutdown"}
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_workers_need_the_zmq_source(start_daemon, tmp_path):
    with pytest.raises(AssertionError, match="workers=2 needs daemon.source zmq"):
        start_daemon({"daemon": {"workers": 2, "source": "mic"}})


def test_a_worker_that_cannot_load_its_engine_stops_the_daemon_with_the_reason(
    start_daemon, monkeypatch
):
    # With no CUDA device visible (on any machine, GPU or not) every worker fails to build the
    # TensorRT engine, and says why: the gpu extra is missing, or there is no CUDA device.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(AssertionError, match="worker 0 did not start") as failed:
        start_daemon({"daemon": {"engine": "tensorrt", "workers": 2}})
    assert "gpu extra" in str(failed.value) or "CUDA" in str(failed.value), failed.value


def test_a_stalled_worker_drops_audio_older_than_a_second_and_ingest_warns(
    start_daemon, example_pcm
):
    """The time bound across processes: a worker frozen for 2 s (below WORKER_HUNG_S, so it
    is not replaced) finds audio on its ipc edge that was spoken over 1 s ago, drops it,
    and reports it to ingest over ipc; the client gets a WARNING, status counts it in the
    worker's pipeline and in ingest, and the stream ends normally."""
    d = start_daemon(WORKERS)
    ctl = Control(d.control)
    pid = ctl.status()["workers"][0]["pid"]
    pcm, rate = example_pcm
    blocks = _blocks(np.tile(pcm, 2), rate)
    sid = _ids(0, 1, "z")[0]
    with Client(d.ingest) as c, Subscriber(d.pub, sid) as s:
        wait_for_subscription(s, c, probe_id=sid + "-probe")
        c.open_stream(sid, rate)
        t0 = time.monotonic()
        for i in range(200):  # 4 s in real time; the worker is frozen from 0.5 s to 2.5 s
            time.sleep(max(0.0, t0 + i * 0.02 - time.monotonic()))
            if i == 25:
                os.kill(pid, signal.SIGSTOP)
            if i == 125:
                os.kill(pid, signal.SIGCONT)
            c.send_audio(sid, i, blocks[i])
        c.close_stream(sid)
        _, frames, ended = s.collect(sid, timeout_s=20)
        while c.recv_status(0.2) is not None:
            pass
    assert ended.reason == "closed" and frames
    deadline = time.monotonic() + 10  # the worker reports its counters once a second
    while True:
        status = ctl.status()
        worker = status["workers"][0]["pipeline"]["counters"].get("dropped_stale_audio", 0)
        told = status["actors"]["ingest"]["counters"].get("dropped_stale_audio", 0)
        if worker and worker == told:
            break
        assert time.monotonic() < deadline, (worker, told)
        time.sleep(0.2)
    assert status["restarts"] == {}, "a 2 s stall is not a hang"
    warned = [st for st in c.statuses if st.code == Code.WARNING and "overloaded" in st.message]
    assert warned, c.statuses
