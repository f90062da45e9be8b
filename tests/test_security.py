"""Network security: loopback by default, CurveZMQ or a loud opt-out beyond it."""

from __future__ import annotations

import math
import socket
import subprocess

import numpy as np
import pytest

from facewire.client import Client, ClientError, Control, Subscriber, wait_for_subscription
from facewire.config import ConfigError, SocketsSection
from facewire.security import Security, is_loopback, keygen
from tests.conftest import FACEWIRE


@pytest.mark.parametrize(
    "endpoint,local",
    [
        ("tcp://127.0.0.1:5555", True),
        ("tcp://127.8.9.1:5555", True),
        ("tcp://localhost:5555", True),
        ("tcp://[::1]:5555", True),
        ("ipc:///run/facewire/ingest", True),
        ("tcp://0.0.0.0:5555", False),
        ("tcp://*:5555", False),
        ("tcp://eth0:5555", False),
        ("tcp://192.168.1.10:5555", False),
        ("tcp://[::]:5555", False),
        ("ws://127.0.0.1:5555", False),
    ],
)
def test_only_loopback_and_ipc_count_as_local(endpoint, local):
    assert is_loopback(endpoint) is local


def test_defaults_bind_loopback_only():
    sockets = SocketsSection()
    assert all(is_loopback(ep) for ep in (sockets.ingest, sockets.pub, sockets.control))
    assert Security(sockets).curve is False


def test_public_endpoint_without_keys_is_refused_unless_opted_out(tmp_path):
    with pytest.raises(ConfigError, match="allow_insecure_public"):
        Security(SocketsSection(ingest="tcp://0.0.0.0:5555"))
    sec = Security(SocketsSection(ingest="tcp://0.0.0.0:5555", allow_insecure_public=True))
    assert sec.insecure == {"ingest": "tcp://0.0.0.0:5555"} and not sec.curve
    with pytest.raises(ConfigError, match="curve_clients_dir"):
        Security(SocketsSection(curve=True))
    keys = keygen(tmp_path / "keys", ["game"])
    with pytest.raises(ConfigError, match="no secret key"):
        Security(
            SocketsSection(
                curve=True,
                curve_server_secret=str(tmp_path / "keys" / "server.key"),
                curve_clients_dir=str(keys["clients_dir"]),
            )
        )
    sec = Security(
        SocketsSection(
            pub="tcp://0.0.0.0:5556",
            curve_server_secret=str(keys["server"]),
            curve_clients_dir=str(keys["clients_dir"]),
        )
    )
    assert sec.curve and not sec.insecure  # keys given: a public bind is encrypted


def test_daemon_refuses_to_expose_an_unencrypted_socket(tmp_path):
    r = subprocess.run(
        [FACEWIRE, "run", "--engine", "dsp", "--ingest", "tcp://0.0.0.0:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "not a loopback address" in r.stderr and "allow_insecure_public" in r.stderr


def test_insecure_opt_out_is_logged_loudly(start_daemon):
    d = start_daemon(
        {
            "daemon": {"engine": "dsp"},
            "sockets": {"pub": f"tcp://0.0.0.0:{_free_port()}", "allow_insecure_public": True},
        }
    )
    assert '"insecure_public_socket"' in d.log() and "UNENCRYPTED" in d.log()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def curve_daemon(start_daemon, tmp_path):
    keys = keygen(tmp_path / "keys", ["game"])
    stranger = keygen(tmp_path / "other", ["stranger"])  # a key pair the daemon never saw
    tcp = {name: f"tcp://127.0.0.1:{_free_port()}" for name in ("ingest", "pub", "control")}
    d = start_daemon(
        {
            "daemon": {"engine": "dsp"},
            "sockets": {
                **tcp,
                "curve": True,
                "curve_server_secret": str(keys["server"]),
                "curve_clients_dir": str(keys["clients_dir"]),
            },
        }
    )
    d.ingest, d.pub, d.control = tcp["ingest"], tcp["pub"], tcp["control"]
    good = {"server_key": str(tmp_path / "keys" / "server.key"), "client_key": str(keys["game"])}
    bad = {"server_key": good["server_key"], "client_key": str(stranger["stranger"])}
    return d, good, bad


def test_curve_authorised_client_works_and_others_get_nothing(curve_daemon, example_pcm):
    d, good, bad = curve_daemon
    pcm, rate = example_pcm
    with (
        Client(d.ingest, timeout_s=1.0, **bad) as intruder,
        Client(d.ingest, timeout_s=1.0) as plain,
        Subscriber(d.pub, **bad) as eavesdropper,
        Subscriber(d.pub) as plain_sub,
    ):
        for c in (intruder, plain):
            with pytest.raises(ClientError, match="no reply|could not send"):
                c.open_stream("sneaky", 16000)
        with Client(d.ingest, **good) as c, Subscriber(d.pub, "npc", **good) as s:
            wait_for_subscription(s, c, probe_id="npc-probe")
            c.send_pcm("npc", pcm, rate)
            _, frames, ended = s.collect("npc", timeout_s=20)
        assert ended.frames == len(frames) == math.ceil(len(pcm) / rate * 30)
        # The stream (and its probes) went out while both rogue subscribers were connected.
        assert eavesdropper.recv(0.5) is None and plain_sub.recv(0.1) is None
    assert Control(d.control, **good).status()["engine"] == "dsp"
    with pytest.raises(ClientError, match="did not answer"):
        Control(d.control, timeout_s=1.0, **bad).status()
    assert "curve_client_denied" in d.log()


def test_client_curve_parameters_must_come_in_pairs(tmp_path):
    keys = keygen(tmp_path, ["c"])
    with pytest.raises(ValueError, match="both"):
        Client("tcp://127.0.0.1:1", client_key=str(keys["c"]))
    with pytest.raises(ValueError, match="40-character"):
        Client("tcp://127.0.0.1:1", server_key="short", client_key=str(keys["c"]))
    assert np.all([p.exists() for p in keys.values()])
