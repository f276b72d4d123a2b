"""Demo settings from environment variables: server limits, queue, device, preloading and output folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "JOYVASA_"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class DemoSettings:
    """What the operator of the demo can tune (each field is ``JOYVASA_<FIELD IN CAPITALS>``).

    device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``.
    concurrency: renders running at once on the device (1 per GPU: one render fills it), for every request
    and every example alike; preview_concurrency: crop previews computed at once (on the CPU);
    max_queue: waiting requests.
    max_audio_seconds: longest accepted audio; max_image_pixels: largest accepted image (width x height, read
    from the file's header before decoding); max_file_mb: largest accepted upload; max_compare_cells: most
    videos in one comparison grid.
    gpu_seconds: the ZeroGPU slot requested per render (ignored elsewhere).
    preload: resolve, verify and load the default mode's weights when the app starts (False: on first use).
    output_dir: where finished videos go before Gradio serves them; outputs older than
    output_max_age_hours are deleted when new ones are made.
    motion_generator, motion_template: a motion generator of one's own (``python -m model.train fit``'s
    ``RUN/checkpoints/iter_*.pt``) and its data's template, in place of the released ones (empty: the release).
    """

    device: str = "auto"
    concurrency: int = 1
    preview_concurrency: int = 2
    max_queue: int = 20
    max_audio_seconds: float = 60.0
    max_image_pixels: int = 50_000_000
    max_file_mb: int = 20
    max_compare_cells: int = 6
    gpu_seconds: int = 120
    preload: bool = True
    output_dir: Path = Path(tempfile.gettempdir()) / "joyvasa_outputs"
    output_max_age_hours: float = 24.0
    motion_generator: str = ""
    motion_template: str = ""

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
            if kind is bool:
                if raw.lower() not in _TRUE + _FALSE:
                    raise ValueError(f"{key}={raw!r} must be one of {_TRUE + _FALSE}")
                values[name] = raw.lower() in _TRUE
                continue
            try:
                value = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{key}={raw!r} is not a valid {kind.__name__}") from exc
            if isinstance(value, int | float) and not value > 0:
                raise ValueError(f"{key}={raw!r} must be positive")
            values[name] = value
        return cls(**values)
