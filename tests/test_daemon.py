"""Integration: a real daemon process, real ZeroMQ sockets, real speech."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import soxr
import yaml

from facewire import config
from facewire.arkit import ARKIT_NAMES, EMOTION_NAMES
from facewire.client import Client, Control, Subscriber, wait_for_subscription
from tests.conftest import EXAMPLE_WAV, FACEWIRE, offline_diff


def stream_file(d, path, stream_id, **kw):
    pcm, rate = sf.read(str(path), dtype="float32")
    with Client(d.ingest) as c, Subscriber(d.pub, stream_id) as s:
        wait_for_subscription(s, c, probe_id=stream_id + "-probe")
        c.send_pcm(stream_id, pcm, rate, **kw)
        started, frames, ended = s.collect(stream_id, timeout_s=30)
    return pcm, rate, started, frames, ended


def test_44k_wav_streamed_by_a_dealer_gives_one_frame_per_tick(dsp_daemon, wav44k):
    pcm, rate, started, frames, ended = stream_file(dsp_daemon, wav44k, "npc-1")
    assert rate == 44_100
    assert list(started.blendshape_names[:52]) == list(ARKIT_NAMES)
    assert list(started.emotion_names) == list(EMOTION_NAMES)
    assert started.fps == 30.0
    assert len(frames) == math.ceil(len(pcm) / rate * 30)  # the contract: exactly ceil(d * fps)
    assert [f.seq for f in frames] == list(range(len(frames)))
    w = np.array([f.weights for f in frames])
    assert w.shape[1] == len(started.blendshape_names)
    assert w[:, :52].min() >= 0.0 and w[:, :52].max() <= 1.0
    assert np.allclose([f.timecode for f in frames], np.arange(len(frames)) / 30.0)
    assert ended.frames == len(frames) and ended.reason == "closed"
    assert abs(ended.audio_seconds - len(pcm) / rate) < 1e-3
    jaw = w[:, ARKIT_NAMES.index("jawOpen")]
    assert jaw.max() > 0.2, "speech must open the jaw"
    assert any(f.speaking for f in frames) and not frames[0].speaking


def test_every_stream_length_gives_exactly_ceil_duration_times_fps_frames(dsp_daemon, wav44k):
    """Lengths that end just past or exactly on a frame boundary, at 44.1 and 22.05 kHz: with
    the resampled length merely rounded, 11760 samples at 44.1 kHz (8 frames) gave 9 and
    22051 samples (16 frames) gave 15."""
    pcm, rate = sf.read(str(wav44k), dtype="float32")
    cases = {f"len-44k-{n}": (pcm[:n], rate) for n in (11760, 22051, 44101, 73500)}
    half = soxr.resample(pcm, rate, 22050).astype(np.float32)
    cases.update({f"len-22k-{n}": (half[:n], 22050) for n in (7350, 11026, 36750)})
    with Client(dsp_daemon.ingest) as c, Subscriber(dsp_daemon.pub) as s:
        wait_for_subscription(s, c)
        for sid, (sig, sr) in cases.items():
            c.send_pcm(sid, sig, sr, chunk_ms=20)
        frames = {sid: 0 for sid in cases}
        ended = {}
        while len(ended) < len(cases):
            item = s.recv(30)
            assert item is not None, f"only {sorted(ended)} ended"
            sid, kind, body = item
            if sid in frames and kind == "animation_frame":
                frames[sid] += 1
            elif sid in frames and kind == "stream_ended":
                ended[sid] = body.frames
    want = {sid: math.ceil(len(sig) / sr * 30) for sid, (sig, sr) in cases.items()}
    assert frames == ended == want


def test_eight_streams_at_once_stay_independent(dsp_daemon, example_pcm, tmp_path):
    pcm, rate = example_pcm
    # Eight different signals: the clip rotated, so each stream has its own frames.
    signals = {f"s{i}": np.roll(pcm, i * rate // 3) for i in range(8)}
    results = {}

    def push(sid, sig):
        with Client(dsp_daemon.ingest) as c:
            c.send_pcm(sid, sig, rate, chunk_ms=20)

    with Subscriber(dsp_daemon.pub) as sub, Client(dsp_daemon.ingest) as probe:
        wait_for_subscription(sub, probe)
        threads = [threading.Thread(target=push, args=item) for item in signals.items()]
        for t in threads:
            t.start()
        frames = {sid: [] for sid in signals}
        ended = set()
        while len(ended) < len(signals):
            item = sub.recv(20)
            assert item is not None, f"streams did not end; ended={ended}"
            sid, kind, body = item
            if sid not in signals:
                continue
            if kind == "animation_frame":
                frames[sid].append(body)
            elif kind == "stream_ended":
                ended.add(sid)
        for t in threads:
            t.join(10)
    for sid, sig in signals.items():
        results[sid] = offline_diff(tmp_path, sid, sig, rate, frames[sid])
    assert max(results.values()) <= 1e-4, results


def test_convert_gives_the_same_frames_as_streaming(dsp_daemon, wav44k, tmp_path):
    _, _, _, frames, _ = stream_file(dsp_daemon, wav44k, "speech44k", chunk_ms=37)
    out = tmp_path / "speech44k.json"
    subprocess.run(
        [FACEWIRE, "convert", str(wav44k), "-o", str(out), "--engine", "dsp", "-q"],
        check=True,
        timeout=60,
    )
    doc = json.loads(out.read_text())
    ref = np.array(doc["weights"])
    got = np.array([f.weights for f in frames])
    assert ref.shape == got.shape
    assert np.abs(ref - got).max() <= 1e-4
    emo = np.array([f.emotions for f in frames])
    assert np.abs(np.array(doc["emotions"]) - emo).max() <= 1e-4


def test_sigterm_drains_every_stream_and_speaks_sd_notify(dsp_daemon, example_pcm):
    d = dsp_daemon
    pcm, rate = example_pcm
    block = (pcm[: rate // 2] * 32767).astype("<i2")
    with Client(d.ingest) as c, Subscriber(d.pub) as s:
        wait_for_subscription(s, c)
        for i in range(4):
            c.open_stream(f"open{i}", rate)
            c.send_audio(f"open{i}", 0, block)
        d.wait_for("WATCHDOG=1", 5)
        animated: set[str] = set()
        while len(animated) < 4:  # the audio is in the pipeline before the signal
            item = s.recv(5)
            assert item is not None, f"only {sorted(animated)} animate"
            if item[1] == "animation_frame":
                animated.add(item[0])
        d.signal(signal.SIGTERM)
        ended = {}
        while len(ended) < 4:
            item = s.recv(5)
            assert item is not None, f"only {sorted(ended)} ended"
            if item[1] == "stream_ended":
                ended[item[0]] = item[2]
    assert d.proc.wait(2) == 0
    assert {e.reason for e in ended.values()} == {"shutdown"}
    assert all(e.frames == math.ceil(0.5 * 30) for e in ended.values()), ended
    d.wait_for("STOPPING=1", 1)


def test_control_status_reports_streams_engine_and_counters(dsp_daemon, example_pcm):
    pcm, rate = example_pcm
    with Client(dsp_daemon.ingest) as c:
        c.open_stream("live", rate)
        c.send_audio("live", 0, (pcm[:rate] * 32767).astype("<i2"))
        status = Control(dsp_daemon.control).status()
        assert status["engine"] == "dsp" and status["healthy"] is True
        assert "publish" in status["actors"] and status["uptime_s"] > 0
        assert status["actors"]["ingest"]["counters"]["streams_opened"] >= 1
        c.close_stream("live")


def test_an_actor_that_crashes_is_restarted_and_streams_resume(start_daemon, example_pcm):
    d = start_daemon({"daemon": {"engine": "dsp", "allow_fault_injection": True}})
    pcm, rate = example_pcm
    ctl = Control(d.control)
    restarted = {"pipeline": "pipeline", "publish": "publish"}
    for actor, unit in restarted.items():
        before = ctl.status()["restarts"].get(unit, 0)
        assert ctl.request("fault", argument=actor).code == 0
        deadline = time.monotonic() + 1.0  # the supervisor restarts within a second
        while ctl.status()["restarts"].get(unit, 0) != before + 1:
            assert time.monotonic() < deadline, f"{actor} was not restarted within 1 s"
            time.sleep(0.02)
        with Client(d.ingest) as c, Subscriber(d.pub, actor) as s:
            wait_for_subscription(s, c, probe_id=actor + "-probe")
            c.send_pcm(actor, pcm, rate)
            _, frames, ended = s.collect(actor, timeout_s=10)
        assert ended.frames == len(frames) == math.ceil(len(pcm) / rate * 30)
    status = ctl.status()
    assert status["restarts"] == {"pipeline": 1, "publish": 1}
    assert "actor_restarted" in d.log()


def test_sighup_reloads_defaults_for_new_streams(start_daemon, example_pcm):
    d = start_daemon({"daemon": {"engine": "dsp"}})
    pcm, rate = example_pcm
    doc = yaml.safe_load(d.config_path.read_text())
    doc["face"] = {"lower_face_strength": 0.0}
    d.config_path.write_text(yaml.safe_dump(doc))
    d.reload()
    _, frames, _ = _stream_pcm(d, pcm, rate, "after")
    jaw = np.array([f.weights[ARKIT_NAMES.index("jawOpen")] for f in frames])
    assert jaw.max() == 0.0, "lower_face_strength 0 from the reloaded config must still the jaw"


def _stream_pcm(d, pcm, rate, sid):
    with Client(d.ingest) as c, Subscriber(d.pub, sid) as s:
        wait_for_subscription(s, c, probe_id=sid + "-probe")
        c.send_pcm(sid, pcm, rate)
        return s.collect(sid, timeout_s=20)


def test_replay_source_streams_a_file_at_real_time(start_daemon, wav44k):
    d = start_daemon(
        {"daemon": {"engine": "dsp"}, "replay": {"realtime": True, "loop": True}},
        ["--source", f"file:{wav44k}"],
    )
    duration = sf.info(str(wav44k)).duration
    with Subscriber(d.pub, "replay") as s:
        # The first pass may have begun before we subscribed: wait for the next start.
        while (item := s.recv(duration + 5)) is not None and item[1] != "stream_started":
            pass
        assert item is not None, "replay did not start again"
        t0 = time.monotonic()
        _, frames, ended = s.collect("replay", timeout_s=duration + 5)
        elapsed = time.monotonic() - t0
    assert ended.frames == len(frames) == math.ceil(duration * 30)
    assert elapsed > duration * 0.8, "real-time replay must not run ahead of the clock"


def test_watchdog_false_sends_no_watchdog_pings(start_daemon):
    d = start_daemon({"daemon": {"engine": "dsp", "watchdog": False}})
    ctl = Control(d.control)
    # Five status answers 0.3 s apart span several of the supervisor's health checks (0.2 s).
    for _ in range(5):
        assert ctl.status()["engine"]
        time.sleep(0.3)
    assert d.stop() == 0
    assert not any("WATCHDOG=1" in n for n in d.notifications), d.notifications
    assert any("STOPPING=1" in n for n in d.notifications)


def test_engine_block_frames_sets_the_latency_and_not_the_frames(start_daemon, tmp_path):
    d = start_daemon({"daemon": {"engine": "onnx", "engine_block_frames": 2}})
    pcm, rate = sf.read(str(EXAMPLE_WAV), dtype="float32")
    with Client(d.ingest) as c, Subscriber(d.pub, "example") as s:
        wait_for_subscription(s, c, probe_id="example-probe")
        c.send_pcm("example", pcm, rate)  # convert names the stream after the file
        started, frames, _ = s.collect("example", timeout_s=30)
    assert started.lookahead_ms == pytest.approx(92.5)  # 4-frame default: 112.5
    out = tmp_path / "b4.json"  # convert with the engine's default block of 4 frames
    subprocess.run([FACEWIRE, "convert", str(EXAMPLE_WAV), "-o", str(out), "-q"], check=True,
                   timeout=120)  # fmt: skip
    ref = np.array(json.loads(out.read_text())["weights"])
    assert np.abs(np.array([f.weights for f in frames]) - ref).max() <= 1e-4
    with pytest.raises(config.ConfigError, match="engine_block_frames"):
        config.from_dict({"daemon": {"engine_block_frames": 9}})
