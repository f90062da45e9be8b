"""Hostile input: fuzzed decoding, fuzzed audio files, and a flood of bad messages.

The fuzz tests (hypothesis) run a bounded number of examples: FACEWIRE_FUZZ_EXAMPLES (default
200 per test) keeps CI short; set it higher locally for a longer hunt. The flood test fires
more than 100 000 malformed, truncated, oversized and valid-but-absurd messages at a live
daemon while a well-behaved client streams speech, which must still get every frame.
"""

from __future__ import annotations

import io
import math
import os
import random
import tempfile
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facewire.actors.ingest import IngestActor
from facewire.audio import AudioError, read_audio_file
from facewire.client import Client, Control, Subscriber, wait_for_subscription
from facewire.config import Config
from facewire.proto import facewire_pb2 as pb
from facewire.wire import Code, ProtocolError, decode, encode

EXAMPLES = int(os.environ.get("FACEWIRE_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
names = st.sampled_from(["jawOpen", "joy", "lower_face_strength", "max_emotions", "x", ""])
param_maps = st.dictionaries(st.one_of(names, st.text(max_size=20)), floats, max_size=6)
stream_ids = st.one_of(st.sampled_from(["a", "b", "c"]), st.text(max_size=150))

open_streams = st.builds(
    pb.OpenStream,
    stream_id=stream_ids,
    sample_rate=st.one_of(
        st.sampled_from([0, 1, 7999, 8000, 16000, 44100, 192000, 192001]),
        st.integers(0, 2**32 - 1),
    ),
    channels=st.one_of(st.integers(0, 9), st.integers(0, 2**32 - 1)),
    encoding=st.integers(0, 5),
    face_params=param_maps,
    emotion_params=param_maps,
    blendshape_multipliers=param_maps,
    blendshape_offsets=param_maps,
    preferred_emotion=param_maps,
    beginning_emotion=param_maps,
)
audio_chunks = st.builds(
    pb.AudioChunk,
    stream_id=stream_ids,
    seq=st.integers(0, 2**64 - 1),
    data=st.one_of(
        st.binary(max_size=4000),
        st.sampled_from([np.full(64, np.nan, "<f4").tobytes(), np.ones(640, "<i2").tobytes()]),
    ),
    emotion=param_maps,
)
close_streams = st.builds(pb.CloseStream, stream_id=stream_ids)


@st.composite
def envelopes(draw) -> bytes:
    """A serialized Envelope: well-formed, truncated, bit-flipped or with a foreign body."""
    body = draw(
        st.one_of(
            open_streams.map(lambda m: {"open_stream": m}),
            audio_chunks.map(lambda m: {"audio_chunk": m}),
            close_streams.map(lambda m: {"close_stream": m}),
            st.builds(pb.StreamEnded, stream_id=stream_ids).map(lambda m: {"stream_ended": m}),
            st.builds(pb.ControlRequest, command=st.text(max_size=10)).map(
                lambda m: {"control_request": m}
            ),
        )
    )
    version = draw(st.sampled_from([1, 1, 1, 0, 2, 2**32 - 1]))
    data = pb.Envelope(schema_version=version, **body).SerializeToString()
    how = draw(st.sampled_from(["whole", "whole", "truncate", "flip", "garbage"]))
    if how == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    elif how == "garbage":
        data = draw(st.binary(max_size=300))
    return data


@FUZZ
@given(data=st.one_of(st.binary(max_size=2000), envelopes()))
def test_decode_only_ever_raises_protocol_error(data):
    try:
        kind, body = decode(data)
    except ProtocolError:
        return
    assert kind in pb.Envelope.DESCRIPTOR.fields_by_name and body is not None


class _IngestHarness:
    """An IngestActor driven in this thread: a real ROUTER (inproc) and real DEALERs."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        cfg = Config().with_overrides(
            sockets__ingest="inproc://fuzz-ingest",
            daemon__max_streams=4,
            daemon__max_streams_per_client=2,
        )
        self.sink = self.ctx.socket(zmq.PULL)
        self.sink.bind("inproc://pipeline")
        self.actor = IngestActor(self.ctx, cfg)
        self.actor._open_sockets()
        self.actor.on_start()
        self.clients = [self.ctx.socket(zmq.DEALER) for _ in range(2)]
        for c in self.clients:
            c.connect("inproc://fuzz-ingest")

    def send(self, client: int, data: bytes) -> list[pb.Status]:
        """Deliver one message, run the actor's handler, return the replies it sent."""
        self.clients[client].send(data)
        assert self.actor.router.poll(1000), "message did not arrive"
        self.actor.on_socket(self.actor.router)  # must never raise
        self.actor.flush()
        while self.sink.poll(0):
            self.sink.recv_multipart()
        replies = []
        while self.clients[client].poll(0):
            kind, body = decode(self.clients[client].recv())
            assert kind == "status"
            replies.append(body)
        return replies

    def close(self) -> None:
        self.actor.stop()  # closes its inbox, outs and ROUTER
        for sock in (*self.clients, self.sink):
            sock.close(linger=0)
        self.ctx.term()


@pytest.fixture(scope="module")
def ingest():
    h = _IngestHarness()
    yield h
    h.close()


@FUZZ
@given(messages=st.lists(st.tuples(st.integers(0, 1), envelopes()), min_size=1, max_size=8))
def test_ingest_handlers_answer_or_reject_but_never_crash(ingest, messages):
    for client, data in messages:
        replies = ingest.send(client, data)
        assert len(replies) <= 1
        for st_ in replies:
            assert st_.code in (Code.OK, Code.WARNING, Code.ERROR)
            assert st_.code != Code.ERROR or st_.message
    streams = ingest.actor.streams
    assert len(streams) <= 4
    for client in {s.client for s in streams.values()}:
        assert sum(s.client == client for s in streams.values()) <= 2
    for s in streams.values():
        assert 8000 <= s.rate <= 192_000 and 1 <= s.channels <= 8
    # Forget this example's streams so the next one starts clean.
    for sid in list(streams):
        ingest.actor._close(sid, "closed")


def _wav_bytes(fmt: str, subtype: str) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    sf.write(buf, (rng.standard_normal(800) * 0.1).astype("f4"), 16000, format=fmt, subtype=subtype)
    return buf.getvalue()


SEEDS = [
    _wav_bytes("WAV", "PCM_16"),
    _wav_bytes("WAV", "FLOAT"),
    _wav_bytes("FLAC", "PCM_16"),
    _wav_bytes("OGG", "VORBIS"),
]


@st.composite
def audio_files(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@FUZZ
@given(data=st.one_of(audio_files(), st.binary(max_size=3000)))
def test_read_audio_file_returns_clean_audio_or_audio_error(data):
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(data)
        f.flush()
        try:
            pcm, rate = read_audio_file(f.name)
        except AudioError:
            return
    assert pcm.dtype == np.float32 and pcm.ndim == 1 and len(pcm) > 0
    assert 8000 <= rate <= 192_000 and np.isfinite(pcm).all()


# -- the flood ---------------------------------------------------------------------------
def _flood_messages(rng: random.Random) -> list[bytes]:
    """About 100 000 bad or absurd messages (oversized ones are sent separately)."""
    valid = [
        encode(open_stream=pb.OpenStream(stream_id="v", sample_rate=16000, channels=1)),
        encode(audio_chunk=pb.AudioChunk(stream_id="v", seq=1, data=b"\0" * 640)),
        encode(close_stream=pb.CloseStream(stream_id="v")),
    ]
    out: list[bytes] = []
    for _ in range(30_000):  # garbage
        out.append(rng.randbytes(rng.randint(0, 200)))
    for _ in range(30_000):  # truncated valid envelopes
        v = rng.choice(valid)
        out.append(v[: rng.randint(0, len(v) - 1)])
    for i in range(20_000):  # 10 000 stream ids nobody opened, twice
        chunk = pb.AudioChunk(stream_id=f"ghost{i % 10_000}", seq=2**64 - 1, data=b"\1\2")
        out.append(encode(audio_chunk=chunk))
    absurd_rates = [0, 1, 7999, 192_001, 2**31, 2**32 - 1]
    for i in range(10_000):  # absurd opens, 10 000 ids: some valid until admission refuses
        o = pb.OpenStream(
            stream_id=f"absurd{i}",
            sample_rate=16000 if i % 7 == 0 else rng.choice(absurd_rates),
            channels=rng.choice([0, 1, 9, 2**32 - 1]),
            encoding=rng.choice([0, 1, 9]),
            face_params={"lower_face_strength": rng.choice([float("nan"), float("inf"), 1e30])}
            if i % 3
            else {},
        )
        out.append(encode(open_stream=o))
    for _ in range(10_000):  # wrong versions, foreign bodies, empty envelopes
        out.append(
            rng.choice(
                [
                    pb.Envelope(schema_version=2**32 - 1).SerializeToString(),
                    encode(stream_started=pb.StreamStarted(stream_id="x", fps=float("nan"))),
                    encode(control_request=pb.ControlRequest(command="fault")),
                    pb.Envelope().SerializeToString(),
                ]
            )
        )
    rng.shuffle(out)
    return out


def _flood(d, stats: dict, stop: threading.Event) -> None:
    rng = random.Random(1234)
    ctx = zmq.Context.instance()
    messages = _flood_messages(rng)
    socks = [ctx.socket(zmq.DEALER) for _ in range(4)]
    for s in socks:
        s.linger = 0
        s.sndhwm = 0
        s.connect(d.ingest)
    # Valid streams whose audio is absurd: NaN floats, 11 s chunks, a huge seq.
    absurd_audio = [
        np.full(320, np.nan, "<f4").tobytes(),
        np.zeros(16000 * 11, "<f4").tobytes(),  # > max_chunk_s, < max_message_bytes
        b"\0\0\0",  # not whole f32 frames
    ]
    socks[0].send(
        encode(
            open_stream=pb.OpenStream(
                stream_id="nan", sample_rate=16000, channels=1, encoding=pb.OpenStream.PCM_F32LE
            )
        )
    )
    for i, data in enumerate(messages):
        socks[i % len(socks)].send(data)
        if i % 50 == 0:
            chunk = pb.AudioChunk(stream_id="nan", seq=i, data=absurd_audio[i % 3])
            socks[0].send(encode(audio_chunk=chunk))
            stats["sent"] += 1
        stats["sent"] += 1
        if i % 500 == 0:
            for s in socks:  # read replies now and then, like a client would
                while s.poll(0):
                    s.recv()
                    stats["replies"] += 1
    # Oversized: ZMQ_MAXMSGSIZE drops the connection before anything is parsed.
    for size in (5 << 20, 10 << 20, 10 << 20):
        big = ctx.socket(zmq.DEALER)
        big.linger = 0
        big.connect(d.ingest)
        big.send(encode(audio_chunk=pb.AudioChunk(stream_id="nan", data=b"\0" * size)))
        stats["oversized_replies"] += big.poll(300)
        stats["sent"] += 1
        big.close(linger=0)
    stop.wait(30)
    for s in socks:
        s.close(linger=10_000)  # deliver what is still queued before the count is read


@pytest.mark.slow
def test_flood_of_bad_messages_leaves_a_good_stream_whole(start_daemon, example_pcm):
    d = start_daemon({"daemon": {"engine": "dsp", "stream_timeout_s": 60}})
    pcm, rate = example_pcm
    signal_ = np.concatenate([pcm] * 3)  # 9 s, streamed at real time during the flood
    stats = {"sent": 0, "replies": 0, "oversized_replies": 0}
    stop = threading.Event()
    with Client(d.ingest) as good, Subscriber(d.pub, "good") as sub:
        wait_for_subscription(sub, good, probe_id="good-probe")
        flood = threading.Thread(target=_flood, args=(d, stats, stop), daemon=True)
        t0 = time.monotonic()
        flood.start()
        good.send_pcm("good", signal_, rate, chunk_ms=20, realtime=True, encoding="s16le")
        _, frames, ended = sub.collect("good", timeout_s=60)
        stop.set()
        flood.join(60)
    assert not flood.is_alive() and stats["sent"] >= 100_000, stats
    assert len(frames) == ended.frames == math.ceil(len(signal_) / rate * 30)
    assert [f.seq for f in frames] == list(range(len(frames)))
    assert ended.reason == "closed" and ended.dropped_chunks == 0
    assert stats["oversized_replies"] == 0, "an oversized message must not be answered"
    # The flood may still sit in socket buffers when the good stream ends: give the ingest
    # actor time to work through it before counting.
    deadline = time.monotonic() + 30
    while True:
        status = Control(d.control).status()
        counters = status["actors"]["ingest"]["counters"]
        if counters["rejected"] >= 90_000 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["healthy"] and not status["restarts"]
    assert counters["rejected"] >= 90_000, counters
    assert d.proc.poll() is None
    elapsed = time.monotonic() - t0
    logged = d.log_path.read_text(errors="replace").count('"message_rejected"')
    assert logged <= 20 * (elapsed + 2), f"{logged} rejection log lines in {elapsed:.0f} s"


def test_oversized_subscription_is_cut_off_and_others_are_served(dsp_daemon, example_pcm):
    pcm, rate = example_pcm
    hostile = Subscriber(dsp_daemon.pub, "x" * 100_000)  # a 100 kB subscription message
    hostile.sock.setsockopt(zmq.SUBSCRIBE, b"good")  # would match, if it were accepted
    try:
        with Client(dsp_daemon.ingest) as c, Subscriber(dsp_daemon.pub, "good") as s:
            wait_for_subscription(s, c, probe_id="good-probe")
            c.send_pcm("good", pcm, rate)
            _, frames, ended = s.collect("good", timeout_s=10)
        assert ended.frames == len(frames) == math.ceil(len(pcm) / rate * 30)
        assert hostile.recv(0.5) is None, "a subscriber over the size limit must get nothing"
    finally:
        hostile.close()
