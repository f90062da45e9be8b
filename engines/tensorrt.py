"""The lip-sync model on an NVIDIA GPU: TensorRT plan, CuPy features, model state on device.

Same model, same bookkeeping and same output as the onnxruntime engine (StreamingModelEngine
in engines/onnx.py does the per-stream scheduling for both); only the model call differs:

- Analysis windows are cut on the host (StreamingWindows), uploaded once per call into a
  device buffer, and `log_mel_windows(xp=cupy, out=...)` writes the features straight into
  TensorRT's input buffer.
- Every live stream owns a row of one device array of model states (StatePool); a model call
  gathers the rows of its streams into the state input and scatters the state output back,
  so model state never leaves the GPU.
- The plan has one optimization profile with a dynamic batch (1 ... max_streams) and time
  (1 ... max_frames) axis; a call with more streams or frames runs in pieces (exact, the model
  is causal with explicit state). All device work is queued on one CUDA stream.
- Precision: an FP16 plan where it agrees with onnxruntime's FP32 output on real speech
  (max |dw| <= fp16_tolerance), else FP32. The plan is cached on disk keyed by GPU, TensorRT
  version, model hash and profile, so a restart loads it instead of building again.

tensorrt and cupy are imported lazily: importing this module works on any machine, and the
constructor raises ImportError or RuntimeError saying what is missing (the registry's `auto`
then falls back to onnxruntime). Written against TensorRT 10.x/11.x (strongly typed networks,
named tensors, execute_async_v3); see docs/GPU.md, including what was verified on hardware.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import structlog

import facewire
from facewire.engines.features import N_MELS, WIN_SAMPLES, log_mel, log_mel_windows
from facewire.engines.onnx import N_CHANNELS, ModelStream, StreamingModelEngine

log = structlog.get_logger()

PLAN_FORMAT = "facewire-trt-plan-1"  # bump when the build recipe changes
ACCURACY_LIMIT = 0.02  # max |weight difference| to onnxruntime any plan must meet
EXAMPLE_WAV = Path(facewire.__file__).resolve().parent / "data" / "example.wav"  # real speech
IO_NAMES = ("features", "state", "weights", "state_out")


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
    if rate != 16_000 or pcm.ndim != 1:
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


class IoBuffers:
    """Fixed-size arrays of `xp` bound to the plan's inputs and outputs, plus the windows.

    A model call over b streams and t frames uses the first b * t rows of `features` and
    `weights` ([b, t, C] row-major) and the first b rows of `state_in` / `state_out`.
    `windows` and `features` have a power-of-two row count so feature calls can be padded to
    a few FFT sizes (cuFFT keeps a plan per size).
    """

    def __init__(self, xp: ModuleType, max_streams: int, max_frames: int, state_size: int):
        rows = max_streams * max_frames
        self.row_capacity = 1 << (rows - 1).bit_length()
        self.windows = xp.zeros((self.row_capacity, WIN_SAMPLES), dtype=xp.float32)
        self.features = xp.zeros((self.row_capacity, N_MELS), dtype=xp.float32)
        self.state_in = xp.zeros((max_streams, state_size), dtype=xp.float32)
        self.weights = xp.zeros((rows, N_CHANNELS), dtype=xp.float32)
        self.state_out = xp.zeros((max_streams, state_size), dtype=xp.float32)

    def feature_rows(self, rows: int) -> int:
        """Rows to run the feature code on for `rows` windows: the next power of two."""
        return min(self.row_capacity, 1 << max(0, rows - 1).bit_length())


class TrtRunner(IoBuffers):
    """A deserialized plan, one execution context and one CUDA stream, on CuPy buffers."""

    def __init__(
        self,
        trt: ModuleType,
        cp: ModuleType,
        plan: bytes,
        max_streams: int,
        max_frames: int,
        state_size: int,
    ) -> None:
        self.stream = cp.cuda.Stream(non_blocking=True)
        with self.stream:
            super().__init__(cp, max_streams, max_frames, state_size)
        self._state_size = state_size
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(plan)
        if self._engine is None:
            raise RuntimeError("TensorRT could not deserialize the plan")
        names = {self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)}
        if names != set(IO_NAMES):
            raise RuntimeError(f"plan tensors {sorted(names)} != expected {sorted(IO_NAMES)}")
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise RuntimeError("TensorRT could not create an execution context")
        buffers = {
            "features": self.features,
            "state": self.state_in,
            "weights": self.weights,
            "state_out": self.state_out,
        }
        for name, buf in buffers.items():
            if not self._context.set_tensor_address(name, buf.data.ptr):
                raise RuntimeError(f"TensorRT refused the buffer for {name!r}")

    def run(self, b: int, t: int):
        """Queue one model call over the first b streams / b * t rows; returns device views
        (weights [b, t, 52], state_out [b, S]) valid once the stream reaches them."""
        ctx = self._context
        if not (
            ctx.set_input_shape("features", (b, t, N_MELS))
            and ctx.set_input_shape("state", (b, self._state_size))
        ):
            raise RuntimeError(f"shape (streams={b}, frames={t}) outside the plan's profile")
        if not ctx.execute_async_v3(self.stream.ptr):
            raise RuntimeError("TensorRT execute_async_v3 failed (see its log)")
        return self.weights[: b * t].reshape(b, t, N_CHANNELS), self.state_out[:b]


def stream_through(runner: Any, xp: ModuleType, feats_f32: np.ndarray, chunk: int) -> np.ndarray:
    """Run (B, T, 80) features through `runner` in chunks of `chunk` frames, carrying the
    state on the device as a live stream does; returns the (B, T, 52) weights on the host."""
    b, total, _ = feats_f32.shape
    out = []
    with runner.stream:
        runner.state_in[:b] = 0
        for t0 in range(0, total, chunk):
            t = min(chunk, total - t0)
            _upload(xp, runner.features[: b * t], feats_f32[:, t0 : t0 + t].reshape(b * t, N_MELS))
            weights, state_out = runner.run(b, t)
            runner.state_in[:b] = state_out
            out.append(_to_host(xp, weights))
    return np.concatenate(out, axis=1)


def _upload(xp: ModuleType, dst, src_f32: np.ndarray) -> None:
    """Copy a host array into a same-shaped contiguous `xp` array (on the current stream)."""
    if xp is np:
        dst[...] = src_f32
    else:
        dst.set(np.ascontiguousarray(src_f32, dtype=np.float32))


def _to_host(xp: ModuleType, arr) -> np.ndarray:
    """A host copy (buffers are reused by the next call); waits for the stream on a GPU."""
    return np.array(arr) if xp is np else xp.asnumpy(arr)


class StatePool:
    """Model state of every live stream: one (capacity, S) float32 array of `xp`.

    A stream holds a row (slot) from new_stream() until it ends or is garbage collected, so
    a model call moves state with one gather and one scatter, whatever the number of streams.
    The pool doubles when full; callers queue its device work on the engine's stream.
    """

    def __init__(self, xp: ModuleType, state_size: int, capacity: int = 64) -> None:
        self._xp = xp
        self.states = xp.zeros((capacity, state_size), dtype=xp.float32)
        self._free = list(range(capacity - 1, -1, -1))

    @property
    def in_use(self) -> int:
        return len(self.states) - len(self._free)

    def acquire(self) -> int:
        if not self._free:
            old = self.states
            self.states = self._xp.zeros((2 * len(old), old.shape[1]), dtype=old.dtype)
            self.states[: len(old)] = old
            self._free.extend(range(len(self.states) - 1, len(old) - 1, -1))
        slot = self._free.pop()
        self.states[slot] = 0
        return slot

    def release(self, slot: int) -> None:
        self._free.append(slot)

    def gather(self, slots, out) -> None:
        """out[i] = states[slots[i]]; slots: int64 array of `xp`."""
        self._xp.take(self.states, slots, axis=0, out=out)

    def scatter(self, slots, src) -> None:
        """states[slots[i]] = src[i]."""
        self.states[slots] = src


class TrtStream(ModelStream):
    """Per-stream bookkeeping plus a StatePool slot, returned when the stream ends or dies."""

    def __init__(self, fps: float, pool: StatePool) -> None:
        super().__init__(fps)
        self.slot = pool.acquire()
        self._release = weakref.finalize(self, pool.release, self.slot)

    def release(self) -> None:
        self._release()  # idempotent


class TensorRTEngine(StreamingModelEngine):
    """TensorRT + CuPy engine for the committed lip-sync model (see the module docstring)."""

    name = "tensorrt"

    def __init__(
        self,
        fps: float = 30.0,
        model_path: str | Path | None = None,
        max_streams: int = 2048,
        cache_dir: str | Path | None = None,
        block_frames: int = 2,
        max_frames: int = 32,
        precision: str = "auto",
        fp16_tolerance: float = 0.01,
    ) -> None:
        """Load the cached plan for this GPU, or build, check and cache it (once per key).

        Args:
            fps: output frame rate (24-60).
            model_path: ONNX model with its JSON sidecar; None selects the committed model.
            max_streams: most streams in one model call (the profile's batch range is
                1 ... max_streams); more streams run as several calls.
            cache_dir: plan cache; None means default_cache_dir().
            block_frames: feature frames per model step, as in OnnxEngine.
            max_frames: most frames per stream in one model call (longer inputs, e.g. a
                whole file, run as several calls).
            precision: "auto" (FP16 if it meets fp16_tolerance, else FP32), "fp16" or "fp32".
            fp16_tolerance: max |weight difference| to onnxruntime FP32 an FP16 plan may have.

        Raises:
            ImportError: cupy or tensorrt is not installed (the gpu extra).
            RuntimeError: no CUDA device, or TensorRT cannot build or run the model.
        """
        super().__init__(fps, model_path, block_frames)
        if max_streams < 1:
            raise ValueError(f"max_streams={max_streams} must be >= 1")
        if precision not in ("auto", "fp16", "fp32"):
            raise ValueError(f"precision={precision!r}: choose auto, fp16 or fp32")
        self.max_streams = int(max_streams)
        # Whole blocks per call, so a long input splits where a live stream would.
        self.max_frames = max(
            self.block_frames, max_frames // self.block_frames * self.block_frames
        )
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.precision_request = precision
        self.fp16_tolerance = float(fp16_tolerance)
        self.plan_meta: dict = {}
        self.plan_source = ""  # "cache" or "built"
        try:
            self._xp, self._runner = self._open_device()
        except (ImportError, RuntimeError, OSError):
            raise
        except Exception as exc:  # e.g. an API of a TensorRT this code never ran against
            raise RuntimeError(
                f"the TensorRT engine could not start: {type(exc).__name__}: {exc}"
            ) from exc
        with self._runner.stream:
            self._pool = StatePool(self._xp, self.state_size, min(self.max_streams, 64))

    @property
    def precision(self) -> str:
        """Precision of the plan in use: fp16 or fp32."""
        return self.plan_meta.get("precision", "")

    def _open_device(self) -> tuple[ModuleType, Any]:
        """(cupy, TrtRunner) for the current GPU; the seam tests use to run the device-free
        parts of this engine with numpy and an onnxruntime runner."""
        cp = _import_cupy()
        try:
            import tensorrt as trt
        except Exception as exc:  # a broken install can raise more than ImportError
            raise ImportError(
                f"the TensorRT engine needs the gpu extra (pip install 'facewire[gpu]'): "
                f"tensorrt is not importable ({exc})"
            ) from exc
        device = cp.cuda.Device()
        name = cp.cuda.runtime.getDeviceProperties(device.id)["name"]
        key = PlanKey(
            gpu_name=name.decode() if isinstance(name, bytes) else str(name),
            compute_capability=str(device.compute_capability),
            tensorrt_version=str(trt.__version__),
            model_sha256=self.model_sha256,
            state_size=self.state_size,
            max_streams=self.max_streams,
            max_frames=self.max_frames,
            opt_frames=2 * self.block_frames,
            precision=self.precision_request,
            fp16_tolerance=self.fp16_tolerance,
        )

        def build() -> tuple[bytes, dict]:
            return self._build(trt, cp)

        plan, meta, source = load_or_build_plan(key, self.cache_dir, build)
        try:
            runner = TrtRunner(trt, cp, plan, self.max_streams, self.max_frames, self.state_size)
        except RuntimeError as exc:
            if source != "cache":
                raise
            log.warning("plan_cache_stale", reason=f"cached plan does not load ({exc})")
            plan, meta, source = load_or_build_plan(key, self.cache_dir, build, rebuild=True)
            runner = TrtRunner(trt, cp, plan, self.max_streams, self.max_frames, self.state_size)
        self.plan_meta, self.plan_source = meta, source
        log.info(
            "tensorrt_plan_ready",
            source=source,
            precision=meta.get("precision"),
            gpu=key.gpu_name,
            tensorrt=key.tensorrt_version,
            max_streams=self.max_streams,
        )
        return cp, runner

    def _build(self, trt: ModuleType, cp: ModuleType) -> tuple[bytes, dict]:
        """Build and check plans; FP16 if it holds against onnxruntime FP32, else FP32."""
        feats = reference_features()
        reference = onnxruntime_reference(self.model_bytes, feats, self.state_size)
        facts: dict = {}
        if self.precision_request in ("auto", "fp16"):
            try:
                half_model = fp16_onnx(self.model_bytes)
            except ImportError as exc:
                if self.precision_request == "fp16":
                    raise ImportError(f"precision='fp16' needs the onnx package ({exc})") from exc
                log.warning("fp16_skipped", reason=f"onnx package missing ({exc})")
            else:
                plan = self._build_one(trt, half_model, fp32_only=False)
                diff = self._check(trt, cp, plan, feats, reference)
                facts["fp16_max_abs_diff"] = diff
                ok = diff <= self.fp16_tolerance
                log.info("fp16_checked", max_abs_diff=diff, tolerance=self.fp16_tolerance, ok=ok)
                if ok or self.precision_request == "fp16":
                    if diff > ACCURACY_LIMIT:
                        raise RuntimeError(
                            f"FP16 plan differs from onnxruntime by {diff:.4f} > {ACCURACY_LIMIT}"
                        )
                    return plan, {**facts, "precision": "fp16", "max_abs_diff": diff}
        plan = self._build_one(trt, self.model_bytes, fp32_only=True)
        diff = self._check(trt, cp, plan, feats, reference)
        if diff > ACCURACY_LIMIT:
            raise RuntimeError(
                f"FP32 TensorRT plan differs from onnxruntime by {diff:.4f} > {ACCURACY_LIMIT}"
            )
        return plan, {**facts, "precision": "fp32", "max_abs_diff": diff}

    def _check(self, trt, cp, plan: bytes, feats: np.ndarray, reference: np.ndarray) -> float:
        """Max |weight difference| of a plan to onnxruntime, run tick-sized as in service."""
        runner = TrtRunner(trt, cp, plan, len(feats), self.max_frames, self.state_size)
        got = stream_through(runner, cp, feats, 2 * self.block_frames)
        return float(np.abs(got - reference).max())

    def _build_one(self, trt: ModuleType, model_bytes: bytes, fp32_only: bool) -> bytes:
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        # Strongly typed: precision comes from the graph (required by TensorRT 11, and what
        # 10.x does with this flag), so the FP32 graph builds FP32 and the FP16 one FP16.
        typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        network = builder.create_network(0 if typed is None else 1 << int(typed))
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(model_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RuntimeError(f"TensorRT cannot parse the model: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
        if fp32_only and hasattr(trt.BuilderFlag, "TF32"):
            config.clear_flag(trt.BuilderFlag.TF32)  # TF32 matmuls round like FP16
        b, t, s = self.max_streams, self.max_frames, self.state_size
        opt_t = min(t, 2 * self.block_frames)  # a 20-40 ms tick
        profile = builder.create_optimization_profile()
        profile.set_shape("features", (1, 1, N_MELS), (b, opt_t, N_MELS), (b, t, N_MELS))
        profile.set_shape("state", (1, s), (b, s), (b, s))
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError("TensorRT could not build the plan (its log says why)")
        return bytes(serialized)

    def new_stream(self) -> TrtStream:
        with self._runner.stream:
            return TrtStream(self.fps, self._pool)

    def _run_model(
        self, batch: Sequence[tuple[Any, np.ndarray, bool]], counts: Sequence[int]
    ) -> list[np.ndarray | None]:
        per_stream: list[np.ndarray | None] = [None] * len(batch)
        with self._runner.stream:
            for n, members in self._group_by_count(counts).items():
                wins = [batch[i][0].windows.take(n) for i in members]
                for c0 in range(0, len(members), self.max_streams):
                    chunk = members[c0 : c0 + self.max_streams]
                    rows = self._run_chunk(
                        wins[c0 : c0 + self.max_streams], [batch[i][0].slot for i in chunk], n
                    )
                    for row, i in enumerate(chunk):
                        per_stream[i] = rows[row]
        for st, _, _ in batch:
            if st.windows.finished:
                st.release()  # its last model call is done
        return per_stream

    def _run_chunk(self, wins: list[np.ndarray], slots: list[int], n: int) -> np.ndarray:
        """Advance up to max_streams streams by n frames; (b, n, 52) float32 on the host."""
        xp, io = self._xp, self._runner
        b = len(slots)
        slots_dev = xp.asarray(np.asarray(slots, dtype=np.int64))
        out = []
        for t0 in range(0, n, self.max_frames):
            t = min(self.max_frames, n - t0)
            c0 = time.perf_counter()
            rows = b * t
            _upload(xp, io.windows[:rows], np.concatenate([w[t0 : t0 + t] for w in wins]))
            padded = io.feature_rows(rows)  # rows past `rows` are stale windows, never read
            log_mel_windows(io.windows[:padded], xp, out=io.features[:padded])
            self._pool.gather(slots_dev, io.state_in[:b])
            c1 = time.perf_counter()
            weights, state_out = io.run(b, t)
            self._pool.scatter(slots_dev, state_out)
            out.append(_to_host(xp, weights))  # waits for the GPU
            self.timing["features_s"] += c1 - c0  # queueing time: the GPU work is async
            self.timing["model_s"] += time.perf_counter() - c1
        return out[0] if len(out) == 1 else np.concatenate(out, axis=1)


def _import_cupy() -> ModuleType:
    """cupy with at least one CUDA device, or ImportError / RuntimeError saying why not."""
    try:
        import cupy as cp
    except Exception as exc:  # a broken install can raise more than ImportError
        raise ImportError(
            f"the TensorRT engine needs the gpu extra (pip install 'facewire[gpu]'): "
            f"cupy is not importable ({exc})"
        ) from exc
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, no device
        raise RuntimeError(f"no usable CUDA device: cupy says {exc}") from exc
    if count < 1:
        raise RuntimeError("no CUDA device: cupy sees 0 GPUs")
    return cp
