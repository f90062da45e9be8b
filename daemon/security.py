"""Network security of the public sockets: loopback by default, CurveZMQ beyond it.

The three public sockets (ingest, pub, control) default to 127.0.0.1. Binding one of them to
any other address needs CurveZMQ: the server's key pair (`sockets.curve_server_secret`, a
`.key_secret` file from `facewire keygen`) and a directory of the clients' public keys
(`sockets.curve_clients_dir`); pyzmq's ThreadAuthenticator answers the ZAP requests and
refuses every key not in that directory, so an unknown client's handshake fails and it
sends or receives nothing. `sockets.curve: true` turns CurveZMQ on for loopback endpoints
too. The only way to bind a non-loopback endpoint without it is the explicit opt-out
`sockets.allow_insecure_public: true`, which is logged as a warning for every such endpoint.

CurveZMQ is applied where sockets are bound: `Security.context()` wraps the daemon's ZeroMQ
context so that every socket bound to a non-inproc endpoint is a CURVE server, whichever
actor creates it; the inproc links between actors stay plain.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from pathlib import Path

import structlog
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from facewire.config import ConfigError, SocketsSection

log = structlog.get_logger()


def is_loopback(endpoint: str) -> bool:
    """Whether a ZeroMQ endpoint is reachable from this machine only.

    ipc:// and inproc:// are local; tcp:// is local only for a loopback address or
    `localhost`. Interface names, `*` and every other transport count as public.
    """
    transport, _, rest = endpoint.partition("://")
    if transport in ("ipc", "inproc"):
        return True
    if transport != "tcp":
        return False
    host = rest.rsplit(":", 1)[0].split(";")[-1].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_endpoints(sockets: SocketsSection) -> dict[str, str]:
    return {"ingest": sockets.ingest, "pub": sockets.pub, "control": sockets.control}


def _read_keys(path: str, what: str, secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{what}={path!r}: cannot read a CurveZMQ key file ({exc})") from None
    if secret and not secret_key:
        raise ConfigError(f"{what}={path!r} holds no secret key (use the .key_secret file)")
    return public, secret_key


class Security:
    """The daemon's socket security, validated from the config before anything binds.

    Raises ConfigError when a non-loopback endpoint would be bound without CurveZMQ and
    without the explicit opt-out, or when CurveZMQ is asked for but its keys are missing.
    """

    def __init__(self, sockets: SocketsSection) -> None:
        endpoints = public_endpoints(sockets)
        exposed = {name: ep for name, ep in endpoints.items() if not is_loopback(ep)}
        have_keys = bool(sockets.curve_server_secret or sockets.curve_clients_dir)
        self.curve = sockets.curve or (bool(exposed) and have_keys)
        self.insecure = {} if self.curve else exposed
        self.public_key = self.secret_key = b""
        self.clients_dir = sockets.curve_clients_dir
        self._auth: ThreadAuthenticator | None = None
        if self.insecure and not sockets.allow_insecure_public:
            names = ", ".join(f"sockets.{n}={ep}" for n, ep in self.insecure.items())
            raise ConfigError(
                f"{names} is not a loopback address: set sockets.curve_server_secret and "
                "sockets.curve_clients_dir (keys from `facewire keygen DIR`), or accept an "
                "unencrypted, unauthenticated socket with sockets.allow_insecure_public: true"
            )
        if not self.curve:
            return
        if not sockets.curve_server_secret or not sockets.curve_clients_dir:
            raise ConfigError(
                "CurveZMQ needs both sockets.curve_server_secret (the server's .key_secret) "
                "and sockets.curve_clients_dir (allowed clients' public .key files)"
            )
        if not Path(self.clients_dir).is_dir():
            raise ConfigError(f"sockets.curve_clients_dir={self.clients_dir!r} is not a directory")
        key_file = sockets.curve_server_secret
        public, secret = _read_keys(key_file, "sockets.curve_server_secret", True)
        self.public_key, self.secret_key = public, secret or b""

    def start(self, ctx: zmq.Context) -> zmq.Context:
        """Start the ZAP authenticator (CurveZMQ) and return the context actors must use."""
        for name, endpoint in self.insecure.items():
            log.warning(
                "insecure_public_socket",
                socket=name,
                endpoint=endpoint,
                warning="UNENCRYPTED and UNAUTHENTICATED on a non-loopback address "
                "(sockets.allow_insecure_public: true); anyone who can reach it can use it",
            )
        if not self.curve:
            return ctx
        self._auth = ThreadAuthenticator(ctx, log=_ZapLog())
        self._auth.start()
        self._auth.configure_curve(domain="*", location=self.clients_dir)
        clients = len(list(Path(self.clients_dir).glob("*.key")))
        log.info("curve_enabled", clients_dir=self.clients_dir, allowed_keys=clients)
        return _curve_context(ctx, self.public_key, self.secret_key)

    def stop(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None


class _ZapLog:
    """Routes the authenticator's logging.Logger calls to structlog (denials are warnings)."""

    def debug(self, msg: str, *args) -> None:
        text = msg % args if args else msg
        if "DENIED" in text:
            log.warning("curve_client_denied", detail=text)

    def info(self, msg: str, *args) -> None:
        self.debug(msg, *args)

    def warning(self, msg: str, *args) -> None:
        log.warning("zap_warning", detail=msg % args if args else msg)

    error = warning

    def exception(self, msg: str, *args) -> None:
        log.error("zap_error", detail=msg % args if args else msg, exc_info=True)


def _curve_context(ctx: zmq.Context, public: bytes, secret: bytes) -> zmq.Context:
    """A context sharing `ctx`'s libzmq context whose non-inproc binds are CURVE servers."""

    class CurveSocket(zmq.Socket):
        def bind(self, addr: str):
            if not addr.startswith("inproc://"):
                self.curve_secretkey = secret
                self.curve_publickey = public
                self.curve_server = True
            return super().bind(addr)

    class CurveContext(zmq.Context):
        _socket_class = CurveSocket

    return CurveContext.shadow(ctx.underlying)


def apply_client_curve(
    sock: zmq.Socket, server_key: str | bytes | None, client_key: str | None
) -> None:
    """Make `sock` a CurveZMQ client (before connect); no-op when both are None.

    Args:
        server_key: the server's public key: a path to its `.key` (or `.key_secret`) file,
            or the 40-character Z85 key itself.
        client_key: path to this client's `.key_secret` file (its public key must be in the
            daemon's sockets.curve_clients_dir).
    """
    if server_key is None and client_key is None:
        return
    if server_key is None or client_key is None:
        raise ValueError("CurveZMQ needs both server_key and client_key")
    if isinstance(server_key, str) and os.path.exists(server_key):
        server_public, _ = zmq.auth.load_certificate(server_key)
    else:
        server_public = server_key.encode() if isinstance(server_key, str) else server_key
    if len(server_public) != 40:
        raise ValueError("server_key must be a key file or a 40-character Z85 public key")
    public, secret = zmq.auth.load_certificate(client_key)
    if not secret:
        raise ValueError(f"{client_key} holds no secret key (use the .key_secret file)")
    sock.curve_serverkey = server_public
    sock.curve_publickey = public
    sock.curve_secretkey = secret


def keygen(directory: str | Path, clients: list[str]) -> dict[str, Path]:
    """Write a server key pair and client key pairs for CurveZMQ.

    Layout: DIR/server.key(+_secret) for the daemon, DIR/NAME.key(+_secret) for each client,
    and a copy of every client's public key in DIR/clients/ (the sockets.curve_clients_dir).
    Existing files are not overwritten. Returns the paths by role.
    """
    root = Path(directory)
    (root / "clients").mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name in ["server", *clients]:
        secret_file = root / f"{name}.key_secret"
        if secret_file.exists():
            raise FileExistsError(f"{secret_file} exists: refusing to overwrite a key")
        zmq.auth.create_certificates(str(root), name)
        os.chmod(secret_file, 0o600)
        out[name] = secret_file
        if name != "server":
            shutil.copy(root / f"{name}.key", root / "clients" / f"{name}.key")
    out["clients_dir"] = root / "clients"
    return out
