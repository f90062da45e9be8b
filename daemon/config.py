"""Typed, frozen configuration built from config.yaml (every key documented there).

One frozen dataclass per section. Unknown keys fail with a "did you mean" suggestion; bad
values name the key, the value and what is allowed. CLI flags override the file through
`Config.with_overrides(section__key=value, ...)`, e.g. `with_overrides(daemon__fps=60)`
(keyword arguments cannot hold a dot, hence the double underscore).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field, fields
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import yaml

from facewire.cpus import usable_cpus


class ConfigError(ValueError):
    """A configuration file or override that facewire cannot use; the message says why."""


@dataclass(frozen=True)
class DaemonSection:
    fps: float = 30.0  # animation frames per second, 24-60
    engine: str = "auto"  # auto | onnx | dsp | tensorrt
    engine_threads: int = 1  # onnxruntime intra-op threads
    # Feature frames (10 ms) per lip-sync model step; 0 = the engine's default (onnx 4,
    # tensorrt 2). Each frame above 1 adds 10 ms of latency and saves model calls.
    engine_block_frames: int = 0
    source: str = "zmq"  # zmq | mic | file:PATH (zmq ingest is always on)
    stream_timeout_s: float = 10.0  # a stream with no audio for this long is ended
    max_streams: int = 256  # admission limit over all clients
    max_streams_per_client: int = 64  # admission limit per ingest connection (DEALER)
    max_chunk_s: float = 10.0  # longest audio chunk accepted
    log_format: str = "auto"  # auto (console on a TTY, JSON otherwise) | json | console
    log_level: str = "info"
    watchdog: bool = True  # send WATCHDOG=1 to systemd from the health check (false: never)
    allow_fault_injection: bool = False  # control `fault` command, for tests only
    seed: int = 0  # seed for procedural motion (blinks, saccades)
    # Speaking flag: learned (a network distilled from Silero, every stream in one batched
    # call) | silero (~0.04 CPU s per audio s per stream) | energy (level only, noise-prone)
    # | PATH.npz made by `python -m training.vad`.
    vad: str = "learned"
    # Emotion from the voice: builtin (the committed network) | rules (hand-set prosody
    # rules) | PATH to weights made with `python -m training.emotion`.
    emotion_model: str = "builtin"
    # Processes running the per-stream pipeline (actors/pipeline.py);
    # streams are spread over them by id. 1 = all in the daemon's process (one core at
    # most: Python's GIL); more needs source zmq. 0 (`auto` in the file, the default): the
    # CPUs this process may use (facewire.cpus) with source zmq, 1 for mic/file; it is
    # resolved once the source is known (resolve_workers), so `--source mic` gets 1.
    workers: int = 0


@dataclass(frozen=True)
class SocketsSection:
    ingest: str = "tcp://127.0.0.1:5555"  # ROUTER for client audio (DEALER clients)
    pub: str = "tcp://127.0.0.1:5556"  # PUB of StreamStarted/AnimationFrame/StreamEnded
    control: str = "tcp://127.0.0.1:5557"  # REP for status and parameter updates
    pub_hwm_messages: int = 100_000  # per-subscriber queue; beyond it libzmq drops
    # Messages one edge between actors (or a worker's ipc edge) holds: a memory cap. The
    # time bound is facewire.actor.AUDIO_MAX_AGE_S: audio waiting longer is dropped.
    queue_hwm: int = 65_536
    max_message_bytes: int = 4 * 1024 * 1024  # ZMQ_MAXMSGSIZE on ingest and control
    curve: bool = False  # CurveZMQ on ingest/pub/control even on loopback
    curve_server_secret: str = ""  # the server's .key_secret (facewire keygen)
    curve_clients_dir: str = ""  # directory of allowed clients' public .key files
    allow_insecure_public: bool = False  # bind non-loopback endpoints without CurveZMQ


@dataclass(frozen=True)
class CaptureSection:
    device: str = ""  # PortAudio device name or index; "" = the default input
    sample_rate: int = 0  # 0 = the device's default rate
    channels: int = 1
    block_ms: int = 20  # capture block length
    stream_id: str = "mic"
    retry_max_s: float = 10.0  # reconnect backoff cap when the device is lost


@dataclass(frozen=True)
class ReplaySection:
    realtime: bool = True  # pace at real time (False = as fast as possible)
    stream_id: str = "replay"
    chunk_ms: int = 20
    loop: bool = False


@dataclass(frozen=True)
class LivelinkSection:
    enabled: bool = False  # send Live Link Face UDP packets for every stream
    host: str = "127.0.0.1"
    port: int = 11111
    device_id: str = "facewire"


@dataclass(frozen=True)
class Config:
    daemon: DaemonSection = field(default_factory=DaemonSection)
    sockets: SocketsSection = field(default_factory=SocketsSection)
    capture: CaptureSection = field(default_factory=CaptureSection)
    replay: ReplaySection = field(default_factory=ReplaySection)
    livelink: LivelinkSection = field(default_factory=LivelinkSection)
    face: dict[str, float] = field(default_factory=dict)  # default face params (A2F names)
    emotion: dict[str, float] = field(default_factory=dict)  # default emotion params

    def with_overrides(self, **overrides: Any) -> Config:
        """Copy with `section__key=value` overrides applied (None values are skipped), validated
        as the file is."""
        raw = to_dict(self)
        for key, value in overrides.items():
            if value is None:
                continue
            section, _, name = key.partition("__")
            raw.setdefault(section, {})[name] = value
        return from_dict(raw)


_SECTIONS = {f.name: f for f in fields(Config)}
_LIMITS: dict[tuple[str, str], tuple[float, float]] = {
    ("daemon", "fps"): (24, 60),
    ("daemon", "engine_threads"): (1, 64),
    ("daemon", "engine_block_frames"): (0, 8),
    ("daemon", "stream_timeout_s"): (0.1, 86_400),
    ("daemon", "max_streams"): (1, 100_000),
    ("daemon", "max_streams_per_client"): (1, 100_000),
    ("daemon", "max_chunk_s"): (0.01, 10),
    ("daemon", "workers"): (0, 256),
    ("sockets", "pub_hwm_messages"): (1, 10_000_000),
    ("sockets", "queue_hwm"): (1, 10_000_000),
    ("sockets", "max_message_bytes"): (1024, 1 << 30),
    ("capture", "channels"): (1, 32),
    ("capture", "block_ms"): (5, 500),
    ("capture", "sample_rate"): (0, 192_000),
    ("replay", "chunk_ms"): (5, 10_000),
    ("livelink", "port"): (1, 65_535),
}
_CHOICES = {
    ("daemon", "engine"): ("auto", "onnx", "dsp", "tensorrt"),
    ("daemon", "log_format"): ("auto", "json", "console"),
    ("daemon", "log_level"): ("debug", "info", "warning", "error"),
}


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"


def _coerce(section: str, key: str, value: Any, kind: type) -> Any:
    where = f"{section}.{key}"
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = value.lower() in ("true", "1", "yes")
            elif not isinstance(value, bool | int):
                raise ValueError
            value = bool(value)
        elif kind is int:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            value = int(float(value))
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
        else:
            value = "" if value is None else str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}={value!r} is not a valid {kind.__name__}") from None
    if (section, key) in _LIMITS:
        lo, hi = _LIMITS[(section, key)]
        if not lo <= value <= hi:
            raise ConfigError(f"{where}={value!r} is outside the allowed range {lo}..{hi}")
    if (section, key) == ("daemon", "vad"):
        from facewire.engines.vad import check_vad

        try:
            check_vad(value)
        except ValueError as exc:
            raise ConfigError(f"{where}={value!r}: {exc}") from None
    if (section, key) in _CHOICES and value not in _CHOICES[(section, key)]:
        raise ConfigError(f"{where}={value!r}: choose one of {', '.join(_CHOICES[(section, key)])}")
    return value


def from_dict(raw: dict[str, Any] | None) -> Config:
    """Build a validated Config from a parsed YAML mapping (missing keys take defaults)."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError("the configuration must be a mapping of sections")
    built: dict[str, Any] = {}
    for section, values in raw.items():
        if section not in _SECTIONS:
            raise ConfigError(f"unknown section {section!r}{_suggest(section, list(_SECTIONS))}")
        values = values or {}
        if not isinstance(values, dict):
            raise ConfigError(f"section {section!r} must be a mapping")
        if section in ("face", "emotion"):
            built[section] = _param_section(section, values)
            continue
        cls = _SECTIONS[section].default_factory  # type: ignore[misc]
        types = {f.name: f.type for f in fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in types:
                raise ConfigError(f"unknown key {section}.{key}{_suggest(key, list(types))}")
            if (section, key) == ("daemon", "workers") and value == "auto":
                kwargs[key] = 0
                continue
            kind = {"float": float, "int": int, "bool": bool, "str": str}[types[key]]
            kwargs[key] = _coerce(section, key, value, kind)
        built[section] = cls(**kwargs)
    return Config(**built)


def _param_section(section: str, values: dict[str, Any]) -> dict[str, float]:
    """Face/emotion defaults are A2F parameters, validated by the parameter module."""
    from facewire.engines.params import StreamParams

    try:
        if section == "face":
            StreamParams.defaults().updated(face=values)
        else:
            StreamParams.defaults().updated(emotion=values)
    except ValueError as exc:
        raise ConfigError(f"{section}: {exc}") from None
    return {str(k): float(v) for k, v in values.items()}


def resolve_workers(cfg: Config) -> Config:
    """`cfg` with daemon.workers 0 (auto) made a count: the usable CPUs for source zmq,
    1 for a microphone or file (one stream), and 1 where the engine is or may be TensorRT
    (the GPU batches every stream already; each worker would hold its own CUDA context)."""
    if cfg.daemon.workers:
        return cfg
    d = cfg.daemon
    gpu = d.engine == "tensorrt" or (d.engine == "auto" and find_spec("tensorrt") is not None)
    n = usable_cpus() if d.source == "zmq" and not gpu else 1
    return dataclasses.replace(cfg, daemon=dataclasses.replace(cfg.daemon, workers=n))


def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def load(path: str | Path | None = None) -> Config:
    """Load a config file (None: the built-in defaults, as documented in config.yaml)."""
    if not path:
        return Config()
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
