"""The systemd notify protocol: datagrams like b"READY=1" to $NOTIFY_SOCKET.

Without NOTIFY_SOCKET (not under systemd) every call is a no-op. An abstract socket
name starts with "@", which the protocol maps to a leading NUL byte.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends sd_notify messages; cheap to call when not under systemd."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        self.dropped = 0  # notifications the receiver's full queue (or absence) refused
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            # Never block: a receiver that stops reading must not freeze the supervisor
            # loop (and with it SIGTERM handling) inside a WATCHDOG=1 send.
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *states: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto("\n".join(states).encode(), self._address)
        except OSError:  # queue full (EAGAIN) or receiver gone: drop, as a datagram may be
            self.dropped += 1

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def reloading(self) -> None:
        self.notify("RELOADING=1")


def watchdog_interval_s() -> float | None:
    """Half of systemd's WatchdogSec (from WATCHDOG_USEC), or None when it is off."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 / 2
