"""onnxruntime sessions for the face models, with the execution provider chosen explicitly."""

from __future__ import annotations

import os

import onnxruntime as ort

_CUDA, _CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def default_providers() -> list[str]:
    """CUDA (then CPU) when this onnxruntime build has it, else CPU only.

    Asking only for what is available avoids onnxruntime's fallback warnings on CPU-only machines.
    """
    return [_CUDA, _CPU] if _CUDA in ort.get_available_providers() else [_CPU]


def open_session(path: str | os.PathLike, providers: list[str] | None = None) -> ort.InferenceSession:
    """An inference session for the model at ``path`` (errors only in onnxruntime's log)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(os.fspath(path), sess_options=options, providers=providers or default_providers())
