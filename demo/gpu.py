"""ZeroGPU support: ``spaces.GPU`` when the optional ``spaces`` package is installed, a no-op elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

try:
    import spaces
except ImportError:  # not on a Hugging Face Space: run on whatever device torch has
    spaces = None

F = TypeVar("F", bound=Callable)


def gpu_task(duration_s: int) -> Callable[[F], F]:
    """Decorator asking ZeroGPU for a GPU for ``duration_s`` seconds per call (unchanged function without
    ``spaces``; ``spaces`` itself also returns it unchanged outside a ZeroGPU Space)."""

    def wrap(fn: F) -> F:
        return fn if spaces is None else spaces.GPU(duration=duration_s)(fn)

    return wrap
