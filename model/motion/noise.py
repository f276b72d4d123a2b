"""Where the sampler's randomness comes from: a seeded device generator, or noise given explicitly.

A sampling run draws the initial state x_T once (shared by every window, as the official code
does) and, for the ancestral DDPM sampler only, one z per step t = T..2 of every window (z = 0 at
t = 1). Explicit noise serves reproduction of recorded runs (the golden files inject theirs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch


class NoiseSource(Protocol):
    """Supplies standard-normal float32 tensors on ``device``."""

    def initial(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """x_T, (1, L, m): drawn once per run, reused for every window."""
        ...

    def step(self, window: int, t: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """z for the update out of official step t (T..2) of window ``window``, (1, L, m)."""
        ...


class SeededNoise:
    """Draws everything from one ``torch.Generator`` on the sampling device, in call order.

    ``seed=None`` seeds it non-deterministically (the official behaviour: no seed at all).
    """

    def __init__(self, seed: int | None, device: torch.device | str) -> None:
        self.generator = torch.Generator(device=device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))

    def _draw(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=device, dtype=torch.float32)

    def initial(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        return self._draw(shape, device)

    def step(self, window: int, t: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        return self._draw(shape, device)


@dataclass(frozen=True)
class ExplicitNoise:
    """Given noise: ``x_T`` (1, L, m) and ``z(window, t)`` -> (1, L, m) for the ancestral steps.

    ``z`` may be None for the deterministic samplers (DDIM, DPM-Solver++), which draw no step noise.
    """

    x_T: torch.Tensor
    z: Callable[[int, int], torch.Tensor] | None = None

    def initial(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        if tuple(self.x_T.shape) != tuple(shape):
            raise ValueError(f"explicit x_T has shape {tuple(self.x_T.shape)}, the sampler needs {tuple(shape)}")
        return self.x_T.to(device=device, dtype=torch.float32)

    def step(self, window: int, t: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        if self.z is None:
            raise ValueError("this sampler draws step noise, but the explicit noise has no z(window, t)")
        z = self.z(window, t)
        if tuple(z.shape) != tuple(shape):
            raise ValueError(f"explicit z(window={window}, t={t}) has shape {tuple(z.shape)}, expected {tuple(shape)}")
        return z.to(device=device, dtype=torch.float32)
