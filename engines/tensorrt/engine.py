"""TensorRTEngine: the streaming engine API (StreamingModelEngine) over a cached plan and
the GPU runtime; tensorrt and cupy are imported only when one is constructed."""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import structlog

from facewire.engines.features import N_MELS, log_mel_windows
from facewire.engines.onnx import ModelStream, StreamingModelEngine
from facewire.engines.tensorrt.plan import (
    ACCURACY_LIMIT,
    PlanKey,
    default_cache_dir,
    fp16_onnx,
    load_or_build_plan,
    onnxruntime_reference,
    reference_features,
)
from facewire.engines.tensorrt.runtime import (
    StatePool,
    TrtRunner,
    import_cupy,
    stream_through,
    to_host,
    upload,
)

log = structlog.get_logger()


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
        cp = import_cupy()
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
            upload(xp, io.windows[:rows], np.concatenate([w[t0 : t0 + t] for w in wins]))
            padded = io.feature_rows(rows)  # rows past `rows` are stale windows, never read
            log_mel_windows(io.windows[:padded], xp, out=io.features[:padded])
            self._pool.gather(slots_dev, io.state_in[:b])
            c1 = time.perf_counter()
            weights, state_out = io.run(b, t)
            self._pool.scatter(slots_dev, state_out)
            out.append(to_host(xp, weights))  # waits for the GPU
            self.timing["features_s"] += c1 - c0  # queueing time: the GPU work is async
            self.timing["model_s"] += time.perf_counter() - c1
        return out[0] if len(out) == 1 else np.concatenate(out, axis=1)
