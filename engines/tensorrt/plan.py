"""TensorRT plans: build one from the ONNX model (FP16 where it agrees with onnxruntime),
check it against onnxruntime on real speech, and cache it on disk keyed by GPU, TensorRT
version, model hash and profile (facewire.engines.tensorrt has the whole story)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import structlog

import facewire
from facewire.engines.features import log_mel
from facewire.pcm import SAMPLE_RATE

log = structlog.get_logger()

PLAN_FORMAT = "facewire-trt-plan-1"  # bump when the build recipe changes
ACCURACY_LIMIT = 0.02  # max |weight difference| to onnxruntime any plan must meet
EXAMPLE_WAV = Path(facewire.__file__).resolve().parent / "data" / "example.wav"  # real speech


def default_cache_dir() -> Path:
    """Where plans are cached: $FACEWIRE_CACHE_DIR, systemd's $CACHE_DIRECTORY, else
    $XDG_CACHE_HOME/facewire or ~/.cache/facewire."""
    for var in ("FACEWIRE_CACHE_DIR", "CACHE_DIRECTORY"):
        value = os.environ.get(var)
        if value:
            return Path(value.split(":")[0])  # systemd joins several directories with ':'
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facewire"


@dataclass(frozen=True)
class PlanKey:
    """Everything a cached plan depends on; a plan is reused only when all of it matches."""

    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    model_sha256: str
    state_size: int
    max_streams: int
    max_frames: int
    opt_frames: int
    precision: str  # requested: auto, fp16 or fp32
    fp16_tolerance: float

    def digest(self) -> str:
        text = json.dumps({"format": PLAN_FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def load_or_build_plan(
    key: PlanKey, cache_dir: Path, build: Callable[[], tuple[bytes, dict]], rebuild: bool = False
) -> tuple[bytes, dict, str]:
    """The cached plan for `key`, or a fresh one from `build()` (then cached if possible).

    Args:
        key: what the plan depends on.
        cache_dir: cache directory (created if missing).
        build: returns (plan bytes, facts about the build such as the chosen precision).
        rebuild: ignore (and replace) a cached plan, e.g. one this TensorRT cannot load.

    Returns:
        (plan bytes, metadata, "cache" or "built"). A missing, truncated or mismatched cache
        entry is rebuilt; an unwritable cache directory costs a rebuild per start, not a crash.
    """
    stem = cache_dir / f"lipsync-{key.digest()}"
    plan_path, meta_path = stem.with_suffix(".trtplan"), stem.with_suffix(".json")
    try:
        if rebuild:
            raise FileNotFoundError(plan_path)
        meta = json.loads(meta_path.read_text())
        plan = plan_path.read_bytes()
        if meta["key"] == asdict(key) and meta["plan_sha256"] == _sha256(plan):
            return plan, meta, "cache"
        log.warning("plan_cache_mismatch", path=str(plan_path))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("plan_cache_unreadable", path=str(plan_path), reason=str(exc))
    t0 = time.perf_counter()
    plan, facts = build()
    meta = {
        "key": asdict(key),
        "plan_sha256": _sha256(plan),
        "build_s": round(time.perf_counter() - t0, 3),
        **facts,
    }
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for path, data in ((plan_path, plan), (meta_path, json.dumps(meta, indent=1).encode())):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: a concurrent start never reads half a plan
    except OSError as exc:
        log.warning("plan_cache_unwritable", dir=str(cache_dir), reason=str(exc))
    return plan, meta, "built"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fp16_onnx(model_bytes: bytes) -> bytes:
    """The model with FP16 weights and FP16 compute, FP32 inputs and outputs kept.

    TensorRT 11 builds only strongly typed networks (BuilderFlag.FP16 is gone), so reduced
    precision has to be in the graph itself: every FP32 initializer becomes FP16 and Casts are
    added after the inputs and before the outputs. The graph has no other float constants
    (its Constant nodes are int64 slice bounds and shapes), which the rewrite checks.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                raise ValueError(f"fp16 rewrite: float constant in node {node.name!r}")
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            half = numpy_helper.to_array(init).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(half, init.name))
    prefix = "facewire_fp16/"
    head = []
    for inp in graph.input:
        inner = prefix + inp.name
        for node in graph.node:
            node.input[:] = [inner if x == inp.name else x for x in node.input]
        head.append(helper.make_node("Cast", [inp.name], [inner], to=TensorProto.FLOAT16))
    tail = []
    for out in graph.output:
        inner = prefix + out.name
        for node in graph.node:
            node.output[:] = [inner if x == out.name else x for x in node.output]
            node.input[:] = [inner if x == out.name else x for x in node.input]
        tail.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT))
    nodes = head + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model.SerializeToString()


def reference_features(streams: int = 4, frames: int = 256) -> np.ndarray:
    """(streams, frames, N_MELS) float32 log-mel of real speech (the packaged example.wav),
    each stream starting elsewhere in it: the input of the build-time accuracy check."""
    import soundfile as sf

    pcm, rate = sf.read(str(EXAMPLE_WAV), dtype="float32")
    if rate != SAMPLE_RATE or pcm.ndim != 1:
        raise RuntimeError(f"{EXAMPLE_WAV} must be 16 kHz mono (is {rate} Hz, {pcm.shape})")
    feats = log_mel(pcm)
    reps = -(-(frames + len(feats)) // len(feats))
    loop = np.concatenate([feats] * reps)
    step = len(feats) // streams
    return np.stack([loop[i * step : i * step + frames] for i in range(streams)])


def onnxruntime_reference(model_bytes: bytes, feats_f32: np.ndarray, state_size: int):
    """(B, T, 52) float32 weights of the FP32 model under onnxruntime, from a zero state."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    state = np.zeros((len(feats_f32), state_size), dtype=np.float32)
    return session.run(None, {"features": feats_f32, "state": state})[0]
