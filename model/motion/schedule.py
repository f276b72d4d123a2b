"""The official cosine diffusion schedule, as (T + 1)-entry buffers indexed by step t = 0..T."""

from __future__ import annotations

import math

import torch
from torch import nn

COSINE_OFFSET = 0.008
BETA_MIN = 1e-4
BETA_MAX = 0.999


def cosine_betas(n_steps: int, s: float = COSINE_OFFSET) -> torch.Tensor:
    """(n_steps + 1,) float32 betas with beta_0 = 0 prepended.

    abar'(k) = cos^2(((k/T) + s)/(1 + s) * pi/2), normalised by abar'(0);
    beta_k = clip(1 - abar'(k)/abar'(k-1), 1e-4, 0.999). Float32 ops in the official order, so
    the values match the official buffers bit for bit.
    """
    x = torch.linspace(0, n_steps, n_steps + 1)
    abar = torch.cos(((x / n_steps) + s) / (1 + s) * math.pi * 0.5) ** 2
    abar = abar / abar[0]
    betas = torch.clip(1 - (abar[1:] / abar[:-1]), BETA_MIN, BETA_MAX)
    return torch.cat([torch.zeros(1), betas])


class DiffusionSchedule(nn.Module):
    """Buffers ``betas``, ``alphas``, ``alpha_bars``, ``sigmas_flex``, ``sigmas_inflex``, each (T + 1,).

    alpha = 1 - beta; alpha_bar_t = exp(sum_{k<=t} log alpha_k) accumulated sequentially in float32
    (as the official loop does; a float64 cumulative sum would round differently);
    sigma_flex = sqrt(beta); sigma_inflex_t = sqrt(beta_t (1 - abar_{t-1}) / (1 - abar_t)), 0 at t = 0.
    The official loader overwrites these buffers with the checkpoint's copies.
    """

    def __init__(self, n_steps: int) -> None:
        super().__init__()
        self.n_steps = n_steps
        betas = cosine_betas(n_steps)
        alphas = 1 - betas
        # A sequential float32 running sum, as the official loop does: torch.cumsum accumulates
        # in float64 on the CPU and would round differently.
        log_alpha_sums = torch.log(alphas)
        for t in range(1, n_steps + 1):
            log_alpha_sums[t] += log_alpha_sums[t - 1]
        alpha_bars = log_alpha_sums.exp()
        sigmas_inflex = torch.zeros_like(betas)
        sigmas_inflex[1:] = ((1 - alpha_bars[:-1]) / (1 - alpha_bars[1:])) * betas[1:]
        self.register_buffer("betas", betas)
        self.register_buffer("alphas", alphas)
        self.register_buffer("alpha_bars", alpha_bars)
        self.register_buffer("sigmas_flex", torch.sqrt(betas))
        self.register_buffer("sigmas_inflex", torch.sqrt(sigmas_inflex))
