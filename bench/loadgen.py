"""Load generator: real ZeroMQ clients in their own processes, as game servers would be.

    python bench/loadgen.py recv --pub EP --ingest EP --streams N --out recv.npz
    python bench/loadgen.py send --ingest EP --streams N --seconds S --out send.npz

`recv` subscribes to every stream, proves its subscription with a probe stream, prints
"ready", then records for every AnimationFrame its stream, seq, publish_ns and
audio_arrival_ns, until every stream has ended (or a timeout). `send` opens N streams
(at most 32 per DEALER, like many client connections), then sends each stream's audio in
chunks of --chunk-ms paced at real time: chunk i leaves when its last sample has "happened"
(t0 + (i + 1) * chunk), as a live microphone would, and records when each chunk left.
Both write numpy .npz files that bench/daemon_load.py turns into latencies.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import zmq

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))

from common import RATE, speech_16k, stream_audio  # noqa: E402

from facewire.client import Client, Subscriber, wait_for_subscription  # noqa: E402
from facewire.proto import facewire_pb2 as pb  # noqa: E402
from facewire.wire import encode  # noqa: E402

STREAMS_PER_CLIENT = 32


def sid(i: int) -> str:
    return f"bench{i:04d}"


def run_recv(args) -> None:
    sids, seqs, pubs, arrivals, recvs = [], [], [], [], []
    ended: dict[int, tuple[int, str, int]] = {}
    lookahead_ms = fps = None
    env = pb.Envelope()
    with Subscriber(args.pub) as sub, Client(args.ingest) as probe:
        wait_for_subscription(sub, probe, probe_id="recv-probe")
        print("ready", flush=True)
        deadline = time.monotonic() + args.timeout
        sock = sub.sock
        while len(ended) < args.streams and time.monotonic() < deadline:
            if not sock.poll(1000):
                continue
            topic, payload = sock.recv_multipart()
            now = time.time_ns()
            if not topic.startswith(b"bench"):
                continue
            index = int(topic[5:])
            env.ParseFromString(payload)
            kind = env.WhichOneof("body")
            if kind == "animation_frame":
                f = env.animation_frame
                sids.append(index)
                seqs.append(f.seq)
                pubs.append(f.publish_ns)
                arrivals.append(f.audio_arrival_ns)
                recvs.append(now)
            elif kind == "stream_started":
                lookahead_ms = env.stream_started.lookahead_ms
                fps = env.stream_started.fps
            elif kind == "stream_ended":
                e = env.stream_ended
                ended[index] = (e.frames, e.reason, e.dropped_chunks)
    np.savez(
        args.out,
        stream=np.array(sids, dtype=np.int32),
        seq=np.array(seqs, dtype=np.int64),
        publish_ns=np.array(pubs, dtype=np.int64),
        arrival_ns=np.array(arrivals, dtype=np.int64),
        recv_ns=np.array(recvs, dtype=np.int64),
        ended_index=np.array(list(ended), dtype=np.int32),
        ended_frames=np.array([v[0] for v in ended.values()], dtype=np.int64),
        ended_dropped=np.array([v[2] for v in ended.values()], dtype=np.int64),
        ended_reason=np.array([v[1] for v in ended.values()]),
        lookahead_ms=np.float64(lookahead_ms or np.nan),
        fps=np.float64(fps or np.nan),
    )


def run_send(args) -> None:
    speech = speech_16k()
    n = args.streams
    step = RATE * args.chunk_ms // 1000
    signals = [
        (np.clip(stream_audio(speech, i, args.seconds), -1, 1) * 32767).astype("<i2")
        for i in range(n)
    ]
    chunks = -(-len(signals[0]) // step)
    ctx = zmq.Context.instance()
    clients = [
        Client(args.ingest, timeout_s=30, ctx=ctx) for _ in range(-(-n // STREAMS_PER_CLIENT))
    ]
    for client in clients:
        client.sock.sndtimeo = -1  # block: a daemon that falls behind shows up as sender lag
    owner = [clients[i // STREAMS_PER_CLIENT] for i in range(n)]
    for i in range(n):
        owner[i].open_stream(sid(i), RATE)
    sent_ns = np.zeros((n, chunks), dtype=np.int64)
    lag_ms = np.zeros(chunks)
    t0 = time.monotonic() + 0.05
    for c in range(chunks):
        due = t0 + (c + 1) * args.chunk_ms / 1000
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        lag_ms[c] = max(0.0, -delay) * 1000
        for i in range(n):
            data = signals[i][c * step : (c + 1) * step].tobytes()
            chunk = pb.AudioChunk(stream_id=sid(i), seq=c, data=data)
            owner[i].sock.send(encode(audio_chunk=chunk))
            sent_ns[i, c] = time.time_ns()
    for i in range(n):
        owner[i].close_stream(sid(i), wait=False)
    warnings = 0
    for client in clients:  # collect the close replies (and any drop warnings)
        while (st := client.recv_status(0.5)) is not None:
            warnings += st.code == pb.Status.WARNING
        client.close()
    np.savez(
        args.out,
        sent_ns=sent_ns,
        step=np.int64(step),
        samples=np.int64(len(signals[0])),
        lag_ms=lag_ms,
        warnings=np.int64(warnings),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("role", choices=["send", "recv"])
    ap.add_argument("--ingest", required=True)
    ap.add_argument("--pub")
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--chunk-ms", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    run_send(args) if args.role == "send" else run_recv(args)


if __name__ == "__main__":
    main()
