"""`facewire view`: watch a live stream as a 2D face in a browser, without a game engine.

One asyncio process: a SUB socket on the daemon's PUB endpoint, and one port serving both
the page (`daemon/view/index.html`, plain HTTP GET) and a WebSocket that forwards every
StreamStarted / AnimationFrame / StreamEnded as a small JSON object. The page draws the
face (jaw, lips, lip corners, brows, lids, gaze) and the ten emotion bars.

Drops: each browser has a bounded queue (QUEUE_FRAMES); a browser that falls behind loses
its oldest frames, never the daemon's or another browser's. Needs the `websockets` package
(the `view` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections import deque
from http import HTTPStatus
from pathlib import Path

import zmq
import zmq.asyncio

from facewire.wire import ProtocolError, decode

PAGE = Path(__file__).with_name("view") / "index.html"
QUEUE_FRAMES = 90  # per browser: 3 s at 30 fps


def frame_json(sid: str, kind: str, body) -> str | None:
    """The browser's JSON for one PUB message (None for bodies the page does not use)."""
    if kind == "stream_started":
        msg = {
            "type": "started",
            "stream": sid,
            "names": list(body.blendshape_names),
            "emotion_names": list(body.emotion_names),
            "fps": body.fps,
        }
    elif kind == "animation_frame":
        msg = {
            "type": "frame",
            "stream": sid,
            "seq": body.seq,
            "t": round(body.timecode, 4),
            "w": [round(v, 4) for v in body.weights],
            "e": [round(v, 4) for v in body.emotions],
            "speaking": body.speaking,
        }
    elif kind == "stream_ended":
        msg = {"type": "ended", "stream": sid, "frames": body.frames, "reason": body.reason}
    else:
        return None
    return json.dumps(msg, separators=(",", ":"))


class Hub:
    """Fans PUB messages out to every connected browser's queue (drop-oldest)."""

    def __init__(self) -> None:
        self.queues: set[Queue] = set()
        self.started: dict[str, str] = {}  # live streams' StreamStarted, for late browsers
        self.dropped = 0

    def publish(self, sid: str, text: str, kind: str) -> None:
        if kind == "started":
            self.started[sid] = text
        elif kind == "ended":
            self.started.pop(sid, None)
        for queue in self.queues:
            self.dropped += queue.put(text)


class Queue:
    """A bounded queue that drops its oldest item when full (asyncio, one consumer)."""

    def __init__(self, size: int) -> None:
        self.items: deque[str] = deque(maxlen=size)
        self.ready = asyncio.Event()

    def put(self, item: str) -> int:
        """Returns 1 when an old item was dropped to make room."""
        full = len(self.items) == self.items.maxlen
        self.items.append(item)
        self.ready.set()
        return int(full)

    async def get(self) -> str:
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        return self.items.popleft()


async def _pump(sub: zmq.asyncio.Socket, hub: Hub) -> None:
    while True:
        topic, payload = await sub.recv_multipart()
        try:
            kind, body = decode(payload)
        except ProtocolError:
            continue
        text = frame_json(topic.decode(errors="replace"), kind, body)
        if text is not None:
            hub.publish(topic.decode(errors="replace"), text, kind.split("_")[-1])


def serve(pub: str, port: int, stream: str | None = None, host: str = "127.0.0.1") -> int:
    """Serve the viewer until SIGINT/SIGTERM; prints the page's URL first.

    Raises:
        RuntimeError: the websockets package (the `view` extra) is missing.
    """
    try:
        import websockets  # noqa: F401
    except ImportError:
        raise RuntimeError("facewire view needs websockets: pip install 'facewire[view]'") from None
    return asyncio.run(_serve(pub, port, stream, host))


async def _serve(pub: str, port: int, stream: str | None, host: str) -> int:
    from websockets.asyncio.server import serve as ws_serve
    from websockets.datastructures import Headers
    from websockets.exceptions import ConnectionClosed
    from websockets.http11 import Response

    page = PAGE.read_bytes()
    hub = Hub()

    def http(connection, request):
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None  # the WebSocket handshake goes on
        if request.path.split("?")[0] not in ("/", "/index.html"):
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        headers = Headers(
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(page))),
                ("Cache-Control", "no-store"),
            ]
        )
        return Response(200, "OK", headers, page)

    async def browser(ws) -> None:
        queue = Queue(QUEUE_FRAMES)
        for text in hub.started.values():
            queue.put(text)
        hub.queues.add(queue)
        # Wait on the queue and on the connection: a browser that goes away (or a server
        # that shuts down) must end this handler even when no frame is coming.
        closed = asyncio.ensure_future(ws.wait_closed())
        try:
            while True:
                item = asyncio.ensure_future(queue.get())
                await asyncio.wait({item, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not item.done():
                    item.cancel()
                    return
                await ws.send(item.result())
        except ConnectionClosed:
            pass
        finally:
            closed.cancel()
            hub.queues.discard(queue)

    ctx = zmq.asyncio.Context()
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.setsockopt(zmq.SUBSCRIBE, (stream or "").encode())
    sub.connect(pub)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pump = asyncio.create_task(_pump(sub, hub))
    try:
        async with ws_serve(browser, host, port, process_request=http) as server:
            bound = server.sockets[0].getsockname()[1]
            print(f"facewire view: http://{host}:{bound}/ showing {pub}", flush=True)
            done = asyncio.create_task(stop.wait())
            await asyncio.wait({pump, done}, return_when=asyncio.FIRST_COMPLETED)
            if pump.done():
                pump.result()  # a crashed pump is an error, not a silent blank page
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        sub.close(linger=0)
        ctx.term()
    print(
        f"facewire view: stopped ({hub.dropped} frames dropped for slow browsers)", file=sys.stderr
    )
    return 0
