"""The GPU path: xp-generic features, the TensorRT engine, its plan cache.

Unmarked tests run everywhere: the feature code with numpy passed explicitly and with a
pretend device array module that refuses host arrays as CuPy does; the TensorRT engine's
import, its clear failure without a GPU and the registry's fallback; the plan cache; the FP16
graph rewrite; and every device-independent line of TensorRTEngine, driven through its
_open_device seam by numpy buffers and an onnxruntime runner and compared with OnnxEngine.

Tests marked `gpu` need cupy, tensorrt and an NVIDIA GPU: CuPy features against NumPy
(<= 1e-4) and TensorRT against onnxruntime on real speech (<= 0.02 per weight). They skip
with the reason otherwise; FACEWIRE_REQUIRE_GPU=1 (set by bench/gpu_check.sh) turns a skip
into a failure, so a GPU check cannot pass by skipping.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import structlog

from facewire.arkit import ARKIT_INDEX
from facewire.engines import features as F
from facewire.engines.base import frames_for
from facewire.engines.onnx import OnnxEngine
from facewire.engines.tensorrt import (
    ACCURACY_LIMIT,
    IoBuffers,
    PlanKey,
    StatePool,
    TensorRTEngine,
    default_cache_dir,
    fp16_onnx,
    load_or_build_plan,
    onnxruntime_reference,
    reference_features,
    stream_through,
)
from tests.streaming import feed_together

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_WAV = REPO / "daemon" / "data" / "example.wav"
BOBBY_WAV = REPO.parent / "shared" / "data" / "speech" / "aligned" / "praatIO" / "bobby.wav"
EMPTY = np.zeros(0, dtype=np.float32)
TICK = 528  # 33 ms at 16 kHz


def _speech() -> np.ndarray:
    pcm, rate = sf.read(str(EXAMPLE_WAV), dtype="float32")
    assert rate == 16_000 and pcm.ndim == 1
    return pcm


def _clips() -> list[np.ndarray]:
    """Real speech at 16 kHz: the packaged example, plus a shared recording where present."""
    clips = [_speech()]
    if BOBBY_WAV.exists():
        import soxr

        pcm, rate = sf.read(str(BOBBY_WAV), dtype="float32")
        pcm = pcm.mean(axis=1) if pcm.ndim > 1 else pcm
        clips.append(soxr.resample(pcm, rate, 16_000).astype(np.float32))
    return clips


def _windows(pcm: np.ndarray) -> np.ndarray:
    return F.frame_windows(pcm, 0, -(-len(pcm) // F.HOP_SAMPLES))


# --- features: xp-generic ------------------------------------------------------------------


def test_log_mel_windows_with_numpy_passed_explicitly() -> None:
    wins = _windows(_speech())
    default = F.log_mel_windows(wins)
    explicit = F.log_mel_windows(wins, xp=np)
    assert explicit.dtype == np.float32 and explicit.shape == (len(wins), F.N_MELS)
    assert np.array_equal(default, explicit)
    assert np.array_equal(F.log_mel(_speech(), xp=np), default)
    out = np.full((len(wins), F.N_MELS), np.nan, dtype=np.float32)
    assert F.log_mel_windows(wins, np, out=out) is out
    assert np.array_equal(out, default)
    assert default.std() > 1.0  # real speech, not a constant


class _DeviceArray:
    """An array on a pretend device: like a CuPy array it refuses to become a host array or
    to mix with one, so any numpy-only step inside the feature code raises TypeError."""

    __array_ufunc__ = None  # numpy ufuncs and operators with host arrays defer to us

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit device-to-host conversion")

    @staticmethod
    def _raw(other):
        if isinstance(other, _DeviceArray):
            return other.data
        if isinstance(other, (int, float, np.generic)):
            return other
        raise TypeError(f"cannot mix a device array with {type(other).__name__}")

    def __mul__(self, other):
        return _DeviceArray(self.data * self._raw(other))

    __rmul__ = __mul__

    def __add__(self, other):
        return _DeviceArray(self.data + self._raw(other))

    __radd__ = __add__

    def __iadd__(self, other):
        self.data += self._raw(other)
        return self

    def __pow__(self, other):
        return _DeviceArray(self.data ** self._raw(other))

    def __matmul__(self, other):
        return _DeviceArray(self.data @ self._raw(other))

    def __rmatmul__(self, other):
        return _DeviceArray(self._raw(other) @ self.data)

    def __getitem__(self, index):
        return _DeviceArray(self.data[index])

    @property
    def real(self):
        return _DeviceArray(self.data.real)

    @property
    def imag(self):
        return _DeviceArray(self.data.imag)

    def astype(self, dtype):
        return _DeviceArray(self.data.astype(dtype))


def _fake_xp() -> types.SimpleNamespace:
    def asarray(a, dtype=None):
        if isinstance(a, _DeviceArray):
            return a
        return _DeviceArray(np.array(a, dtype=dtype))  # an upload: host in, device out

    def rfft(x, n=None, axis=-1):
        return _DeviceArray(np.fft.rfft(x.data, n=n, axis=axis))

    def log(x, out=None):
        if out is None:
            return _DeviceArray(np.log(x.data))
        np.log(x.data, out=out.data)
        return out

    return types.SimpleNamespace(
        float32=np.float32, asarray=asarray, fft=types.SimpleNamespace(rfft=rfft), log=log
    )


def test_log_mel_windows_never_touches_host_arrays() -> None:
    xp = _fake_xp()
    wins = _windows(_speech())
    got = F.log_mel_windows(xp.asarray(wins), xp=xp)
    assert isinstance(got, _DeviceArray)
    assert np.array_equal(got.data, F.log_mel_windows(wins))
    out = _DeviceArray(np.zeros((len(wins), F.N_MELS), dtype=np.float32))
    assert F.log_mel_windows(xp.asarray(wins), xp=xp, out=out) is out
    assert np.array_equal(out.data, got.data)
    with pytest.raises(TypeError):  # the double is honest: numpy calls on it do fail
        np.fft.rfft(xp.asarray(wins))


# --- TensorRT engine on any machine --------------------------------------------------------


def _gpu_reason() -> str | None:
    """Why the GPU path cannot run here, or None when cupy sees a device and tensorrt imports."""
    try:
        import cupy
    except Exception as exc:
        return f"cupy not importable ({exc}): install the gpu extra on an NVIDIA GPU machine"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return f"cupy sees no CUDA device ({exc})"
    if count < 1:
        return "cupy sees 0 CUDA devices"
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:
        return f"tensorrt not importable ({exc}): install the gpu extra"
    return None


GPU_REASON = _gpu_reason()


def test_import_is_lazy() -> None:
    code = (
        "import sys, facewire.engines.tensorrt, facewire.engines.registry;"
        "bad = {'cupy', 'tensorrt'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.skipif(GPU_REASON is None, reason="a GPU is present: the gpu tests cover it")
def test_constructor_says_why_it_cannot_run() -> None:
    with pytest.raises((ImportError, RuntimeError)) as info:
        TensorRTEngine(fps=30.0)
    assert any(word in str(info.value) for word in ("gpu extra", "CUDA device"))


@pytest.mark.skipif(GPU_REASON is None, reason="a GPU is present: auto picks TensorRT")
def test_auto_falls_back_to_onnx_and_logs_why() -> None:
    from facewire.engines.registry import load_engine

    with structlog.testing.capture_logs() as logs:
        engine = load_engine("auto", 30.0)
    assert engine.name == "onnx"
    why = [e for e in logs if e["event"] == "engine_unavailable" and e["engine"] == "tensorrt"]
    assert why and ("gpu extra" in why[0]["reason"] or "CUDA" in why[0]["reason"])
    with pytest.raises((ImportError, RuntimeError)):
        load_engine("tensorrt", 30.0)  # named explicitly: no silent fallback


def test_unexpected_device_errors_become_runtime_errors() -> None:
    """So `auto` falls back to onnxruntime (it catches ImportError/RuntimeError/OSError)
    instead of crashing the daemon when a TensorRT version lacks an API this code calls."""

    class Broken(TensorRTEngine):
        def _open_device(self):
            raise AttributeError("'tensorrt.Builder' object has no attribute 'x'")

    with pytest.raises(RuntimeError, match="could not start: AttributeError"):
        Broken(fps=30.0)


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("FACEWIRE_CACHE_DIR", "CACHE_DIRECTORY", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "facewire"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "facewire"
    monkeypatch.setenv("CACHE_DIRECTORY", f"{tmp_path}/systemd:{tmp_path}/other")
    assert default_cache_dir() == tmp_path / "systemd"
    monkeypatch.setenv("FACEWIRE_CACHE_DIR", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


def _key(**change) -> PlanKey:
    fields = dict(
        gpu_name="NVIDIA H200",
        compute_capability="90",
        tensorrt_version="10.13.0",
        model_sha256="ab" * 32,
        state_size=11904,
        max_streams=2048,
        max_frames=32,
        opt_frames=4,
        precision="auto",
        fp16_tolerance=0.01,
    )
    return PlanKey(**{**fields, **change})


class _Builder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> tuple[bytes, dict]:
        self.calls += 1
        return f"plan-{self.calls}".encode(), {"precision": "fp16"}


def test_plan_cache_reused_until_something_changes(tmp_path: Path) -> None:
    build = _Builder()
    plan, meta, source = load_or_build_plan(_key(), tmp_path, build)
    assert (plan, source, meta["precision"], build.calls) == (b"plan-1", "built", "fp16", 1)
    plan, meta, source = load_or_build_plan(_key(), tmp_path, build)
    assert (plan, source, build.calls) == (b"plan-1", "cache", 1)  # a restart: no rebuild
    for change in ({"gpu_name": "NVIDIA L4"}, {"tensorrt_version": "11.0"}, {"max_streams": 64}):
        assert load_or_build_plan(_key(**change), tmp_path, build)[2] == "built"
    assert build.calls == 4
    assert _key(model_sha256="cd" * 32).digest() != _key().digest()
    # A truncated plan (e.g. a crash while copying the cache) is rebuilt, not loaded.
    (plan_file,) = [p for p in tmp_path.glob("*.trtplan") if p.read_bytes() == b"plan-1"]
    plan_file.write_bytes(b"plan")
    assert load_or_build_plan(_key(), tmp_path, build)[:1] + (build.calls,) == (b"plan-5", 5)
    assert load_or_build_plan(_key(), tmp_path, build, rebuild=True)[0] == b"plan-6"
    assert load_or_build_plan(_key(), tmp_path, build)[2] == "cache"
    meta = json.loads(plan_file.with_suffix(".json").read_text())
    assert meta["key"]["gpu_name"] == "NVIDIA H200" and meta["precision"] == "fp16"
    assert not list(tmp_path.glob(".*tmp"))


def test_plan_cache_unwritable_costs_a_build_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    build = _Builder()
    with structlog.testing.capture_logs() as logs:
        plan, _, source = load_or_build_plan(_key(), blocker / "cache", build)
    assert (plan, source) == (b"plan-1", "built")
    assert any(e["event"] == "plan_cache_unwritable" for e in logs)


def test_fp16_graph_keeps_float32_io_and_accuracy() -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    engine = OnnxEngine(fps=30.0, precision="fp32")  # the float file TensorRT builds from
    half = fp16_onnx(engine.model_bytes)
    model = onnx.load_from_string(half)
    io = list(model.graph.input) + list(model.graph.output)
    assert [t.type.tensor_type.elem_type for t in io] == [onnx.TensorProto.FLOAT] * 4
    assert {i.data_type for i in model.graph.initializer} == {onnx.TensorProto.FLOAT16}
    feats = reference_features(streams=2, frames=200)
    ref = onnxruntime_reference(engine.model_bytes, feats, engine.state_size)
    session = ort.InferenceSession(half, providers=["CPUExecutionProvider"])
    state = np.zeros((2, engine.state_size), dtype=np.float32)
    got = session.run(None, {"features": feats, "state": state})[0]
    assert got.dtype == np.float32 and got.shape == ref.shape == (2, 200, 52)
    diff = np.abs(got - ref).max()
    assert 0.0 < diff <= 0.01  # really half precision, and close enough for faces


class HostRunner(IoBuffers):
    """TrtRunner's interface on numpy buffers, run by onnxruntime, with the profile's limits."""

    def __init__(self, model_bytes: bytes, max_streams: int, max_frames: int, state_size: int):
        import onnxruntime as ort

        super().__init__(np, max_streams, max_frames, state_size)
        self.stream = contextlib.nullcontext()
        self.max_streams, self.max_frames = max_streams, max_frames
        self.calls: list[tuple[int, int]] = []
        self._session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])

    def run(self, b: int, t: int):
        assert 1 <= b <= self.max_streams and 1 <= t <= self.max_frames
        self.calls.append((b, t))
        feats = self.features[: b * t].reshape(b, t, F.N_MELS)
        w, s = self._session.run(None, {"features": feats, "state": self.state_in[:b]})
        self.weights[: b * t] = w.reshape(b * t, -1)
        self.state_out[:b] = s
        return self.weights[: b * t].reshape(b, t, -1), self.state_out[:b]


class HostTensorRTEngine(TensorRTEngine):
    """TensorRTEngine with numpy for cupy and onnxruntime for the plan: everything else real."""

    def _open_device(self):
        self.runner = HostRunner(
            self.model_bytes, self.max_streams, self.max_frames, self.state_size
        )
        return np, self.runner


def _streamed(engine, pcm: np.ndarray, chunk: int) -> np.ndarray:
    return feed_together(engine, [pcm], [chunk])[0]


@pytest.fixture(scope="module")
def onnx_engine() -> OnnxEngine:
    return OnnxEngine(fps=30.0, precision="fp32")  # what TensorRT runs


def test_engine_bookkeeping_matches_onnx_engine(onnx_engine: OnnxEngine) -> None:
    """Five streams through a 2-stream, 4-frame profile: chunked over streams and frames,
    states gathered and scattered through the pool, features written into the input buffer."""
    engine = HostTensorRTEngine(fps=30.0, max_streams=2, max_frames=4)
    speech = _speech()
    pcms = [np.roll(speech, 4000 * i)[: len(speech) - 3000 * i] for i in range(5)]
    chunks = [TICK, 1600, 333, 160, 48000]  # the last arrives whole: one long final call
    together = feed_together(engine, pcms, chunks)
    calls = engine.runner.calls
    assert max(b for b, _ in calls) == 2 and max(t for _, t in calls) == 4
    for pcm, got in zip(pcms, together, strict=True):
        want = _streamed(onnx_engine, pcm, TICK)
        assert got.shape == want.shape == (frames_for(len(pcm), 30.0), 52)
        assert np.abs(got - want).max() <= 1e-4
    assert engine._pool.in_use == 0  # every slot came back when its stream ended


def test_state_slots_recycled_grown_and_reclaimed() -> None:
    engine = HostTensorRTEngine(fps=30.0, max_streams=4, max_frames=8)
    pool = engine._pool
    first = [engine.new_stream() for _ in range(100)]  # past the initial 4 rows: grows
    assert pool.in_use == 100 and len(pool.states) >= 100
    assert len({st.slot for st in first}) == 100
    speech = _speech()[:8000]
    engine.process([(st, speech, True) for st in first[:50]])
    assert pool.in_use == 50
    del first[:]  # abandoned without final=True: reclaimed by the garbage collector
    gc.collect()
    assert pool.in_use == 0
    # A reused slot starts from a zero state: same output as a brand-new engine.
    again = _streamed(engine, speech, TICK)
    fresh = _streamed(HostTensorRTEngine(fps=30.0, max_streams=4, max_frames=8), speech, TICK)
    assert np.array_equal(again, fresh)


def test_state_pool_gather_scatter() -> None:
    pool = StatePool(np, state_size=3, capacity=2)
    slots = [pool.acquire() for _ in range(5)]
    pool.scatter(np.asarray(slots), np.arange(15, dtype=np.float32).reshape(5, 3))
    out = np.zeros((2, 3), dtype=np.float32)
    pool.gather(np.asarray([slots[4], slots[1]]), out)
    assert out.tolist() == [[12, 13, 14], [3, 4, 5]]
    pool.release(slots[1])
    assert pool.acquire() == slots[1] and not pool.states[slots[1]].any()


def test_build_time_check_runs_like_a_live_stream(onnx_engine: OnnxEngine) -> None:
    feats = reference_features(streams=3, frames=60)
    runner = HostRunner(onnx_engine.model_bytes, 3, 8, onnx_engine.state_size)
    got = stream_through(runner, np, feats, 4)
    ref = onnxruntime_reference(onnx_engine.model_bytes, feats, onnx_engine.state_size)
    assert runner.calls == [(3, 4)] * 15
    assert np.abs(got - ref).max() <= 1e-4


# --- on a GPU ------------------------------------------------------------------------------


def _need_gpu() -> None:
    if GPU_REASON is not None:
        if os.environ.get("FACEWIRE_REQUIRE_GPU") == "1":
            pytest.fail(f"FACEWIRE_REQUIRE_GPU=1 but {GPU_REASON}")
        pytest.skip(GPU_REASON)


@pytest.fixture(scope="module")
def trt_engine(tmp_path_factory) -> TensorRTEngine:
    _need_gpu()
    cache = os.environ.get("FACEWIRE_CACHE_DIR") or str(tmp_path_factory.mktemp("plans"))
    return TensorRTEngine(fps=30.0, cache_dir=cache)


@pytest.mark.gpu
def test_cupy_log_mel_matches_numpy() -> None:
    _need_gpu()
    import cupy

    for pcm in _clips():
        wins = _windows(pcm)
        host = F.log_mel_windows(wins, xp=np)
        dev = F.log_mel_windows(cupy.asarray(wins), xp=cupy)
        assert isinstance(dev, cupy.ndarray) and dev.dtype == cupy.float32
        assert np.abs(cupy.asnumpy(dev) - host).max() <= 1e-4
        out = cupy.empty((len(wins), F.N_MELS), dtype=cupy.float32)
        F.log_mel_windows(cupy.asarray(wins), xp=cupy, out=out)
        assert np.abs(cupy.asnumpy(out) - host).max() <= 1e-4


@pytest.mark.gpu
def test_tensorrt_matches_onnxruntime_on_speech(trt_engine, onnx_engine) -> None:
    import cupy

    assert trt_engine.precision in ("fp16", "fp32")
    assert isinstance(trt_engine._pool.states, cupy.ndarray)  # model state lives on device
    for speech in _clips():
        for chunk in (TICK, 160, 7777):
            got = _streamed(trt_engine, speech, chunk)
            want = _streamed(onnx_engine, speech, chunk)
            assert got.shape == want.shape == (frames_for(len(speech), 30.0), 52)
            assert np.abs(got - want).max() <= ACCURACY_LIMIT
            assert np.ptp(got[:, ARKIT_INDEX["jawOpen"]]) > 0.05  # not a constant face


@pytest.mark.gpu
def test_tensorrt_batched_streams_match_onnxruntime(trt_engine, onnx_engine) -> None:
    speech = _speech()
    pcms = [np.roll(speech, 5000 * i)[: len(speech) - 2000 * i] for i in range(6)]
    chunks = [TICK, TICK, 1600, 333, 160, 48000]
    got = feed_together(trt_engine, pcms, chunks)
    for pcm, g in zip(pcms, got, strict=True):
        want = _streamed(onnx_engine, pcm, TICK)
        assert g.shape == want.shape
        assert np.abs(g - want).max() <= ACCURACY_LIMIT
    assert trt_engine._pool.in_use == 0


@pytest.mark.gpu
def test_tensorrt_plan_is_cached(trt_engine) -> None:
    again = TensorRTEngine(fps=30.0, cache_dir=trt_engine.cache_dir)
    assert again.plan_source == "cache"  # no rebuild on restart
    assert again.precision == trt_engine.precision
    assert again.plan_meta["max_abs_diff"] <= ACCURACY_LIMIT
