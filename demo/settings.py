"""Demo settings from environment variables: server limits, queue, device and output folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "JOYVASA_"


@dataclass(frozen=True)
class DemoSettings:
    """What the operator of the demo can tune (each field is ``JOYVASA_<FIELD IN CAPITALS>``).

    device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``.
    concurrency: renders running at once (1 per GPU: one render fills it); max_queue: waiting requests.
    max_audio_seconds: longest accepted audio; max_image_side: longest accepted image side in pixels;
    max_file_mb: largest accepted upload; max_compare_cells: most videos in one comparison grid.
    gpu_seconds: the ZeroGPU slot requested per render (ignored elsewhere).
    output_dir: where finished videos go before Gradio serves them; outputs older than
    output_max_age_hours are deleted when new ones are made.
    """

    device: str = "auto"
    concurrency: int = 1
    max_queue: int = 20
    max_audio_seconds: float = 60.0
    max_image_side: int = 4096
    max_file_mb: int = 20
    max_compare_cells: int = 6
    gpu_seconds: int = 120
    output_dir: Path = Path(tempfile.gettempdir()) / "joyvasa_outputs"
    output_max_age_hours: float = 24.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> DemoSettings:
        """Defaults overridden by ``JOYVASA_*`` variables; a malformed value raises ValueError naming it."""
        values: dict[str, object] = {}
        for name, default in cls.__dataclass_fields__.items():
            key = ENV_PREFIX + name.upper()
            raw = environ.get(key)
            if raw is None or raw == "":
                continue
            kind = type(default.default)
            try:
                value = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{key}={raw!r} is not a valid {kind.__name__}") from exc
            if isinstance(value, int | float) and value <= 0:
                raise ValueError(f"{key}={raw!r} must be positive")
            values[name] = value
        return cls(**values)
