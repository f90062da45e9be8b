"""Engine selection by name: onnx (default), dsp, tensorrt, or auto."""

from __future__ import annotations

import structlog

from facewire.engines.base import Engine

log = structlog.get_logger()


def load_engine(name: str, fps: float, threads: int = 1, block_frames: int = 0) -> Engine:
    """Build the named engine; `auto` prefers TensorRT on a GPU, then onnxruntime.

    `block_frames`: feature frames per model step of a learned engine (0: the engine's own
    default). Raises RuntimeError with the reason when a named engine cannot run here.
    """
    if name == "dsp":
        from facewire.engines.dsp import DspEngine

        return DspEngine(fps=fps)
    if name in ("onnx", "tensorrt"):
        try:
            return _learned_engine(name, fps, threads, block_frames)
        except ImportError as exc:
            # A missing extra is a fact about this machine, not a bug: one clear line
            # (the CLI prints RuntimeErrors as such), never a traceback.
            text = str(exc)
            if name not in text.lower():
                text = f"the {name} engine cannot run here: {text}"
            raise RuntimeError(text) from exc
    if name == "auto":
        for candidate in ("tensorrt", "onnx"):
            try:
                engine = load_engine(candidate, fps, threads, block_frames)
            except (ImportError, RuntimeError, OSError) as exc:
                log.info("engine_unavailable", engine=candidate, reason=str(exc))
                continue
            log.info("engine_selected", engine=engine.name)
            return engine
        log.warning("engine_fallback", engine="dsp", reason="no learned engine can run here")
        return load_engine("dsp", fps, threads)
    raise RuntimeError(f"unknown engine {name!r} (choose auto, onnx, dsp or tensorrt)")


def _learned_engine(name: str, fps: float, threads: int, block_frames: int) -> Engine:
    blocks = {"block_frames": block_frames} if block_frames else {}
    if name == "onnx":
        from facewire.engines.onnx import OnnxEngine

        return OnnxEngine(fps=fps, threads=threads, **blocks)
    from facewire.engines.tensorrt import TensorRTEngine

    return TensorRTEngine(fps=fps, **blocks)
