"""ZeroGPU support: ``spaces.GPU`` when the optional ``spaces`` package is installed, a no-op elsewhere."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

try:
    import spaces
except ImportError:  # not on a Hugging Face Space: run on whatever device torch has
    spaces = None

F = TypeVar("F", bound=Callable)
#: On a ZeroGPU Space (Hugging Face sets SPACES_ZERO_GPU): networks go to "cuda" at start-up, in the main
#: process, and ``spaces`` attaches a real GPU only inside the decorated functions.
ZERO_GPU = spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def gpu_task(duration_s: int) -> Callable[[F], F]:
    """Decorator asking ZeroGPU for a GPU for ``duration_s`` seconds per call (unchanged function without
    ``spaces``; ``spaces`` itself also returns it unchanged outside a ZeroGPU Space)."""

    def wrap(fn: F) -> F:
        return fn if spaces is None else spaces.GPU(duration=duration_s)(fn)

    return wrap
