"""End-to-end: `facewire view` in headless Chromium shows a mouth that opens and closes.

A real daemon, the real viewer process, and Chromium driven over its DevTools protocol (a
WebSocket, with the same `websockets` package the viewer uses): the page's own record of the
lip gap is read while realtime speech plays, and screenshots of an open and a closed frame
must differ where the mouth is drawn.
"""

from __future__ import annotations

import io
import itertools
import json
import select
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from facewire.client import Client
from tests.conftest import FACEWIRE
from tests.devtools import HEADLESS_FLAGS, DevTools

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)"
)
ws_sync = pytest.importorskip(
    "websockets.sync.client", reason="the view extra is not installed: pip install '.[view]'"
)
Image = pytest.importorskip("PIL.Image", reason="Pillow (from the plot extra) is needed")

OPEN_PX, CLOSED_PX = 12.0, 1.0  # lip gap in SVG units (the mouth's full range is ~0-80)


def _screenshot(tools: DevTools) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(tools.screenshot_png())).convert("RGB"))


def _read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    assert ready, "the viewer printed no URL"
    return proc.stdout.readline().decode()


def _devtools_port(profile: Path, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    port_file = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return int(port_file.read_text().split()[0])
        time.sleep(0.05)
    raise AssertionError("Chromium did not open its DevTools port")


@pytest.fixture
def viewer(dsp_daemon):
    proc = subprocess.Popen(
        [FACEWIRE, "view", "--pub", dsp_daemon.pub, "--port", "0"], stdout=subprocess.PIPE
    )
    try:
        line = _read_line(proc, 20)
        url = line.split()[2]
        assert url.startswith("http://127.0.0.1:"), line
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def page(viewer, tmp_path):
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen(
        [
            CHROMIUM,
            *HEADLESS_FLAGS,
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--window-size=800,640",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            viewer,
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = _devtools_port(profile, 30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        target = next(t for t in targets if t["type"] == "page")
        with ws_sync.connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            tools = DevTools(ws)
            tools.wait("document.body.dataset.connected === '1'", 20, "the page's WebSocket")
            yield tools
    finally:
        proc.terminate()
        proc.wait(10)


def _mouth_box(tools: DevTools) -> tuple[int, int, int, int]:
    r = tools.js(
        "(() => { const b = document.getElementById('mouth-area').getBoundingClientRect();"
        " return [b.left, b.top, b.right, b.bottom].map(Math.round); })()"
    )
    return tuple(r)


def test_the_drawn_mouth_opens_and_closes_with_live_speech(dsp_daemon, page, example_pcm, tmp_path):
    pcm, rate = example_pcm
    # The viewer's SUB joins the daemon's PUB late (slow joiner): wait until the page shows
    # a probe stream before the speech starts.
    with Client(dsp_daemon.ingest) as c:
        deadline = time.monotonic() + 15
        for n in itertools.count():
            c.open_stream(f"probe{n}", rate)
            c.close_stream(f"probe{n}")
            if page.js(f"document.getElementById('face').dataset.stream === 'probe{n}'"):
                break
            assert time.monotonic() < deadline, "the page never saw a stream"
        sender = threading.Thread(target=c.send_pcm, args=("speech", pcm, rate),
                                  kwargs={"realtime": True}, daemon=True)  # fmt: skip
        sender.start()
        gaps, shots = [], {}
        state = "JSON.stringify(document.getElementById('face').dataset)"
        deadline = time.monotonic() + 30
        while sender.is_alive() or not gaps or gaps[-1][0] < 80:
            assert time.monotonic() < deadline, f"stream did not finish; {len(gaps)} samples"
            before = json.loads(page.js(state))
            if before["stream"] != "speech" or int(before["seq"]) < 0:
                continue
            gap = float(before["mouthOpen"])
            gaps.append((int(before["seq"]), gap))
            kind = "open" if gap >= OPEN_PX else "closed" if gap <= CLOSED_PX else None
            if kind and kind not in shots:
                image = _screenshot(page)
                after = float(json.loads(page.js(state))["mouthOpen"])
                # Keep the shot only if the mouth was in the same state before and after it.
                if (after >= OPEN_PX) == (kind == "open") and (after <= CLOSED_PX) == (
                    kind == "closed"
                ):
                    shots[kind] = image
        sender.join(10)

    values = np.array([g for _, g in gaps])
    assert values.max() >= 2 * OPEN_PX, f"mouth never opened wide: max gap {values.max()}"
    assert values.min() <= CLOSED_PX, f"mouth never closed: min gap {values.min()}"
    opened = values >= OPEN_PX
    assert np.count_nonzero(np.diff(opened.astype(int)) == -1) >= 2, "mouth must close again"
    assert len({seq for seq, _ in gaps}) > 30, "the page must follow the frames"

    assert set(shots) == {"open", "closed"}, f"screenshots taken: {sorted(shots)}"
    x0, y0, x1, y1 = _mouth_box(page)
    mouth_open = shots["open"][y0:y1, x0:x1].astype(int)
    mouth_closed = shots["closed"][y0:y1, x0:x1].astype(int)
    changed = np.abs(mouth_open - mouth_closed).sum(axis=2) > 60
    assert changed.sum() > 300, f"only {changed.sum()} mouth pixels differ"
    # The open mouth shows its dark inside (#5a1622) over many more pixels.
    inside = np.array([0x5A, 0x16, 0x22])

    def dark(img):
        return int((np.abs(img - inside).sum(axis=2) < 40).sum())

    assert dark(mouth_open) > dark(mouth_closed) + 300
    Image.fromarray(shots["open"]).save(tmp_path / "view-open.png")
