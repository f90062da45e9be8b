"""A minimal Chrome DevTools Protocol client for one page, over a websockets sync connection.

Used by the viewer test and by docs/make_pictures.py (the README's viewer picture).
"""

from __future__ import annotations

import base64
import itertools
import json
import time

# Headless Chromium on a machine with no network: without the background-networking flags
# it keeps trying (and failing) to reach Google's services.
HEADLESS_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class DevTools:
    """Calls, JavaScript and screenshots on one page's DevTools WebSocket."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    def call(self, method: str, timeout_s: float = 10.0, **params) -> dict:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            reply = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"DevTools {method}: {reply['error']}")
                return reply["result"]

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait(self, expression: str, timeout_s: float, what: str):
        """The expression's value once it is truthy; AssertionError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"{what} did not happen within {timeout_s} s")

    def screenshot_png(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
