"""Unit tests of the daemon's pure parts: config, messages, audio, features, sd_notify."""

from __future__ import annotations

import math
import os
import socket
import threading
import tracemalloc

import numpy as np
import pytest
import soxr
import zmq

from facewire import config
from facewire.actor import Actor
from facewire.actors.capture import BLOCK_QUEUE, STATUS_FLAGS_KEPT, CaptureActor
from facewire.audio import AudioError, StreamResampler, decode_pcm
from facewire.engines.base import FpsResampler, frames_for
from facewire.engines.features import StreamingWindows, log_mel, log_mel_windows
from facewire.messages import Message, pack, recv, shard_of, unpack
from facewire.sdnotify import Notifier
from tests.conftest import REPO


def test_config_yaml_documents_exactly_the_defaults():
    assert config.load(REPO / "config.yaml") == config.Config()


def test_unknown_config_key_suggests_the_right_one(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("daemon:\n  fsp: 30\n")
    with pytest.raises(config.ConfigError, match="did you mean 'fps'"):
        config.load(p)
    p.write_text("socket:\n  pub: x\n")
    with pytest.raises(config.ConfigError, match="did you mean 'sockets'"):
        config.load(p)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("daemon:\n  fps: 120\n", "daemon.fps=120.0 is outside the allowed range 24..60"),
        ("daemon:\n  engine: magic\n", "choose one of auto, onnx, dsp, tensorrt"),
        ("daemon:\n  max_streams: lots\n", "max_streams='lots' is not a valid int"),
        ("face:\n  blink_strenght: 1\n", "blink_strength"),
        ("[1, 2\n", "not valid YAML"),
    ],
)
def test_bad_config_values_name_key_value_and_range(tmp_path, text, fragment):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(config.ConfigError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        config.load(p)


def test_cli_style_overrides_beat_the_file():
    cfg = config.Config().with_overrides(
        daemon__fps=60, sockets__pub="ipc:///tmp/x", daemon__engine=None
    )
    assert cfg.daemon.fps == 60.0 and cfg.sockets.pub == "ipc:///tmp/x"
    assert cfg.daemon.engine == "auto"


def test_message_batches_round_trip_headers_and_arrays():
    w = np.random.default_rng(0).random((3, 55), dtype=np.float32)
    msgs = [
        Message("frames", "s1", {"first": 7}, {"weights": w, "speaking": np.ones(3, "u1")}),
        Message("close", "s2", {"reason": "closed"}),
        Message("audio16", "s2", {}, {"pcm": np.arange(5, dtype=np.float32)}),
    ]
    back = unpack([bytes(f) for f in pack(msgs)])
    kinds = [(m.kind, m.stream) for m in back]
    assert kinds == [("frames", "s1"), ("close", "s2"), ("audio16", "s2")]
    assert back[0].fields == {"first": 7} and back[1].fields == {"reason": "closed"}
    assert np.array_equal(back[0].arrays["weights"], w) and back[0].arrays["speaking"].shape == (3,)
    assert np.array_equal(back[2].arrays["pcm"], np.arange(5))
    frames = pack(msgs)
    with pytest.raises(ValueError, match="2 frames"):
        unpack(frames[:1])
    with pytest.raises(ValueError, match="ends before"):
        unpack([frames[0], frames[1][:-4]])
    with pytest.raises(ValueError, match="no header names"):
        unpack([frames[0], frames[1] + b"x"])


class _Source(Actor):
    """A drop-newest actor driven from the test thread (no thread of its own)."""

    name = "unit-source"
    policy = "drop-newest"

    def __init__(self, ctx, downstream):
        super().__init__(ctx, downstream, hwm=1)
        self.lost: list[str] = []

    def on_dropped(self, msgs):
        self.lost.extend(m.stream for m in msgs)


def test_batches_go_to_their_stream_shard_and_a_full_edge_drops_data_not_control():
    ctx = zmq.Context()
    shards = [ctx.socket(zmq.PULL) for _ in range(2)]
    for k, sock in enumerate(shards):
        sock.set_hwm(1)
        sock.bind(f"inproc://unit-shard-{k}")
    src = _Source(ctx, [f"inproc://unit-shard-{k}" for k in range(2)])
    src._open_sockets()
    ids = [f"s{i}" for i in range(8)]
    pcm = np.zeros(160, np.float32)
    try:
        for sid in ids:
            src.emit(Message("audio", sid, {}, {"pcm": pcm}))
        src.flush()  # one batch per shard
        got = {k: [m.stream for m in recv(sock)] for k, sock in enumerate(shards)}
        assert sorted(got[0] + got[1]) == ids
        assert all(shard_of(sid, 2) == k for k, sids in got.items() for sid in sids)
        # Nobody reads now: once the edge is full, data is dropped (and reported), control
        # still goes, in order.
        for _ in range(20):
            src.emit(Message("audio", "s0", {}, {"pcm": pcm}))
            src.flush()
        assert src.counters["dropped_audio"] > 0
        assert src.lost == ["s0"] * src.counters["dropped_audio"]
        k = shard_of("s0", 2)
        kinds: list[str] = []

        def drain() -> None:  # reads until the close arrives (or 5 s pass)
            while "close" not in kinds and shards[k].poll(5000):
                kinds.extend(m.kind for m in recv(shards[k]))

        reader = threading.Thread(target=drain)
        reader.start()  # makes room for the blocking control send
        src.emit(Message("audio", "s0", {}, {"pcm": pcm}))
        src.emit(Message("close", "s0", {"reason": "closed"}))
        src.flush()
        reader.join(10)
        assert kinds[-1] == "close" and set(kinds) <= {"audio", "close"}
    finally:
        for sock in (*shards, *src.outs, src.inbox):
            sock.close(linger=0)
        ctx.term()


def test_decode_pcm_mixes_down_and_validates():
    st = np.array([[1000, -1000], [32767, 32767]], "<i2")
    mono = decode_pcm(st.tobytes(), "s16le", 2, 16000, 10)
    assert mono.dtype == np.float32 and np.allclose(mono, [0.0, 32767 / 32768])
    with pytest.raises(AudioError, match="whole number"):
        decode_pcm(b"\0" * 3, "s16le", 1, 16000, 10)
    with pytest.raises(AudioError, match="NaN"):
        decode_pcm(np.array([np.nan], "<f4").tobytes(), "f32le", 1, 16000, 10)
    with pytest.raises(AudioError, match="exceeds"):
        decode_pcm(np.zeros(801, "<i2").tobytes(), "s16le", 1, 8000, 0.1)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000, 96000])
def test_resampling_is_chunk_size_invariant(rate, example_pcm):
    pcm, src = example_pcm
    x = soxr.resample(pcm, src, rate).astype(np.float32)
    whole = StreamResampler(rate, 30.0).process(x, last=True)  # the whole clip in one call
    for chunk in (17, 441, 4096):
        r = StreamResampler(rate, 30.0)
        parts = [r.process(x[i : i + chunk]) for i in range(0, len(x), chunk)]
        parts.append(r.process(np.zeros(0, np.float32), last=True))
        streamed = np.concatenate(parts)
        assert len(streamed) == len(whole)
        assert np.abs(streamed - whole).max() < 1e-5
    assert abs(len(whole) - len(x) * 16000 / rate) <= 1


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0])
@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000])
def test_resampled_stream_spans_exactly_ceil_duration_times_fps_frames(rate, fps):
    """The contract's frame count holds for every source length, including those that end
    within half a 16 kHz sample of a frame boundary (plain rounding gained or lost a frame
    there: 11760 samples at 44.1 kHz, 8 frames at 30 fps, resampled to 4267 samples = 9)."""
    rng = np.random.default_rng(rate)
    lengths = [1, 2, 3, 50] + [
        n
        for k in (1, 8, 16, 97, 300)
        for n in range(int(k * rate / fps) - 2, int(k * rate / fps) + 3)
    ]
    for n in lengths:
        x = (0.1 * rng.standard_normal(n)).astype(np.float32)
        r = StreamResampler(rate, fps)
        step = rate // 50
        got = sum(len(r.process(x[i : i + step])) for i in range(0, n, step))
        got += len(r.process(np.zeros(0, np.float32), last=True))
        assert frames_for(got, fps) == math.ceil(n / rate * fps - 1e-9), (n, got)
        assert abs(got - n * 16000 / rate) <= 1.5, (n, got)


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_resampler_memory_is_constant_over_an_hour_of_chunks():
    """An hour of 20 ms chunks at 44.1 kHz: after a minute of warm-up neither the Python and
    numpy allocations (tracemalloc) nor the resident memory (soxr's C state) grow."""
    r = StreamResampler(44100, 30.0)
    block = (0.1 * np.sin(np.arange(882) / 7)).astype(np.float32)
    out = sum(len(r.process(block)) for _ in range(50 * 60))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        rss_before = _rss_kb()
        for _ in range(50 * 3540):
            out += len(r.process(block))
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown_kb = _rss_kb() - rss_before
    # A chunk's output is 2.5 kB: holding on to even one per chunk would be 450 MB.
    assert current - base < 16 * 1024 and peak - base < 64 * 1024, (current - base, peak - base)
    assert grown_kb < 4096, f"resident memory grew {grown_kb} kB over the hour"
    out += len(r.process(np.zeros(0, np.float32), last=True))
    assert out == 3600 * 16000


def test_capture_queue_drops_the_oldest_blocks_and_keeps_few_status_flags():
    """A microphone whose reader falls behind keeps the newest audio (latency stays bounded),
    counts what it dropped, and PortAudio's status flags do not pile up in memory."""
    cap = CaptureActor(zmq.Context.instance(), config.Config())
    n = BLOCK_QUEUE + 120
    for i in range(n):
        block = np.full((320, 1), i, np.int16)  # each block's samples carry its index
        cap._callback(block, 320, None, "input overflow" if i % 2 else None)
    kept = [round(float(cap.blocks.get_nowait()[0]) * 32768) for _ in range(cap.blocks.qsize())]
    assert kept == list(range(120, n)), "the oldest blocks go, the newest stay, in order"
    assert cap.counters["dropped_blocks"] == 120
    assert cap.counters["device_status_flags"] == n // 2
    assert list(cap.status_flags) == ["input overflow"] * STATUS_FLAGS_KEPT


def test_streaming_log_mel_equals_offline():
    x = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    offline = log_mel(x)
    s = StreamingWindows()
    rows = []
    for i in range(0, len(x), 777):
        s.push(x[i : i + 777])
        rows.append(log_mel_windows(s.take(s.ready())))
    s.finish()
    rows.append(log_mel_windows(s.take(s.ready())))
    assert np.abs(np.concatenate(rows) - offline).max() < 1e-4


def test_fps_resampler_interpolates_and_counts_frames():
    r = FpsResampler(30.0, 1)
    rows = np.arange(101, dtype=np.float32)[:, None]  # value = feature index = t * 100
    r.push(rows)
    out = r.pop(frames_for(16000, 30.0))
    assert len(out) == 30
    assert np.allclose(out[:, 0], np.arange(30) / 30 * 100, atol=1e-4)


def test_sd_notify_speaks_the_datagram_protocol(tmp_path):
    path = str(tmp_path / "n.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(2)
    n = Notifier(path)
    n.ready("engine=dsp")
    n.watchdog()
    n.stopping()
    got = [srv.recv(100).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=engine=dsp", "WATCHDOG=1", "STOPPING=1"]
    assert not Notifier("").enabled


def test_every_wire_pcm_encoding_has_one_name_and_dtype() -> None:
    from facewire.pcm import PCM_ENCODINGS
    from facewire.proto import facewire_pb2 as pb
    from facewire.wire import encoding_enum, encoding_name

    wire = set(pb.OpenStream.Encoding.values())
    assert {encoding_enum(name) for name in PCM_ENCODINGS} == wire
    assert {encoding_name(v) for v in wire} == set(PCM_ENCODINGS)
    assert encoding_name(max(wire) + 1) is None
