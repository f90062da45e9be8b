"""LiveLinkSink: every stream's frames as Live Link Face UDP packets, so Unreal can listen.

In:  the publish actor's frames (a FrameSink, called in the publish thread).
Out: one version-6 Live Link Face datagram per frame to livelink.host:port; subject name =
     stream id, frame number = the frame's seq (contiguous from 0), frame rate = the stream's
     fps, device id = a UUID string derived from livelink.device_id (the app sends its UUID,
     and `pylivelinkface` only decodes 36-character ids).
Drops: the socket is non-blocking, with a send buffer of up to SNDBUF_BYTES (the kernel caps
     it at net.core.wmem_max) so a burst of frames of many subjects fits. A datagram the
     kernel will not take right now (EAGAIN: buffer full; ENOBUFS: interface queue full) is
     retried while the socket becomes writable (`send_retries`), but the publish thread
     waits at most WAIT_BUDGET_S in any second, however many subjects; past that it is
     dropped (`dropped_full`); one the network refuses (no
     listener: ICMP port unreachable) is dropped (`send_errors`). Every counter is in
     `facewire status` under actors.publish.sinks.livelink, zeros included, with a
     rate-limited warning per failure. Publishing never waits on Unreal beyond that budget.
Packets go out as the pipeline makes frames, not re-paced: pacing would add latency, and
the frame number tells Unreal each packet's place in time.
"""

from __future__ import annotations

import errno
import select
import socket
import time
import uuid
from collections import Counter

import numpy as np
import structlog

from facewire.config import ConfigError, LivelinkSection
from facewire.livelink.codec import encode_packet, frame_rate, values_from_frame

log = structlog.get_logger(actor="livelink")

# Namespace for device ids derived from a name (uuid5 of "facewire:<device_id>").
DEVICE_NAMESPACE = uuid.UUID("6f1c1c5e-5a0b-4f3e-9d39-6d2b8f0f7a11")
WARN_EVERY_S = 10.0
SNDBUF_BYTES = 4 << 20  # room for several ticks of 64 subjects' bursts (~350 B a datagram)
WAIT_BUDGET_S = 0.05  # most the publish thread waits on a full socket in any one second
TRANSIENT = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS)


def device_uuid(device_id: str) -> str:
    """The 36-character UUID string sent as the packet's device id.

    A device_id that already is a UUID is sent as it is; any other name becomes a stable
    uuid5, so Unreal sees the same source across daemon restarts.
    """
    try:
        return str(uuid.UUID(device_id))
    except ValueError:
        return str(uuid.uuid5(DEVICE_NAMESPACE, f"facewire:{device_id}"))


class LiveLinkSink:
    """A FrameSink that turns frames into Live Link Face datagrams."""

    name = "livelink"

    def __init__(self, section: LivelinkSection) -> None:
        """Resolve the target once and open a non-blocking UDP socket.

        Raises:
            ConfigError: the host does not resolve (named in the message).
        """
        try:
            family, _, _, _, addr = socket.getaddrinfo(
                section.host, section.port, type=socket.SOCK_DGRAM
            )[0]
        except socket.gaierror as exc:
            raise ConfigError(f"livelink.host={section.host!r} does not resolve: {exc}") from None
        self.target = addr
        self.device = device_uuid(section.device_id)
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF_BYTES)
        self.sock.setblocking(False)
        # Connected, so the kernel reports "nobody listening" (ICMP) as ECONNREFUSED.
        self.sock.connect(addr)
        # Zeros listed too, so `status` shows that failures are counted, not just absent.
        self.counters: Counter[str] = Counter(
            packets=0, send_retries=0, dropped_full=0, send_errors=0
        )
        self.streams: dict[str, tuple[tuple[str, ...], int, int]] = {}  # names, fps num/den
        self._last_warning = 0.0
        self._window = 0.0  # start of the current one-second waiting window
        self._waited = 0.0  # seconds waited in it

    def on_open(self, stream_id: str, names: list[str], fps: float) -> None:
        num, den = frame_rate(fps)
        self.streams[stream_id] = (tuple(names), num, den)

    def on_frames(
        self, stream_id: str, first: int, weights: np.ndarray, emotions: np.ndarray
    ) -> None:
        """Send frames first, first+1, ... of a stream: weights (n, C) float32."""
        if stream_id not in self.streams:
            return
        names, num, den = self.streams[stream_id]
        values = values_from_frame(weights, names)  # (n, 61) float32
        for i, row in enumerate(values):
            packet = encode_packet(stream_id, self.device, first + i, 0.0, num, den, row)
            self._send(packet)

    def on_close(self, stream_id: str) -> None:
        self.streams.pop(stream_id, None)

    def _send(self, packet: bytes) -> None:
        """Send one datagram; on a transient refusal wait (within the budget) and retry."""
        while True:
            try:
                self.sock.send(packet)
            except OSError as exc:
                if exc.errno not in TRANSIENT:  # e.g. ECONNREFUSED after ICMP port unreachable
                    self._failed("send_errors", exc.strerror or repr(exc))
                    return
                left = self._wait_left()
                if left <= 0:
                    self._failed("dropped_full", f"{errno.errorcode[exc.errno]}: {exc.strerror}")
                    return
                self.counters["send_retries"] += 1
                t0 = time.monotonic()
                if exc.errno == errno.ENOBUFS:  # an interface queue: nothing to wait on
                    time.sleep(min(left, 0.001))
                else:  # the socket buffer: writable again once it drains
                    select.select([], [self.sock], [], left)
                self._waited += time.monotonic() - t0
            else:
                self.counters["packets"] += 1
                return

    def _wait_left(self) -> float:
        """Seconds the publish thread may still wait on this socket in this second."""
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._waited = now, 0.0
        return WAIT_BUDGET_S - self._waited

    def _failed(self, counter: str, reason: str) -> None:
        self.counters[counter] += 1
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            log.warning(
                "livelink_send_failed",
                target=f"{self.target[0]}:{self.target[1]}",
                reason=reason,
                **{k: v for k, v in self.counters.items() if k != "packets"},
            )


def parse_target(text: str, default_port: int = 11111) -> tuple[str, int]:
    """`HOST[:PORT]` (IPv6 as `[::1]:11111`) -> (host, port), for `facewire run --livelink`."""
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(port_text, text)
    if not host:
        raise ValueError(f"--livelink {text!r}: expected HOST[:PORT]")
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"--livelink {whole!r}: port must be 1-65535")
    return int(text)
