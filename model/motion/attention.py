"""Unmasked multi-head attention kernels for the denoiser's self-attention.

``sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient / math
kernels chosen by PyTorch, any device). ``xformers``: ``xformers.ops.memory_efficient_attention``,
an optional extra (its wheels need CUDA libraries), usable only on CUDA devices.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Literal

import torch
import torch.nn.functional as F

AttentionBackend = Literal["sdpa", "xformers"]
BACKENDS: tuple[AttentionBackend, ...] = ("sdpa", "xformers")


def check_backend(name: str) -> AttentionBackend:
    """Validate a backend name; ``xformers`` must be importable. Returns the name."""
    if name not in BACKENDS:
        raise ValueError(f"unknown attention backend {name!r}; choose one of {BACKENDS}")
    if name == "xformers" and importlib.util.find_spec("xformers") is None:
        raise ImportError(
            "attention backend 'xformers' was selected but xformers is not installed; install it "
            "(`pip install xformers`, CUDA builds only) or use attention_backend='sdpa'"
        )
    return name  # type: ignore[return-value]


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: AttentionBackend) -> torch.Tensor:
    """Softmax attention with scale 1/sqrt(head_dim), no mask.

    q, k, v: (N, S, H, head_dim) -> (N, S, H, head_dim).
    """
    if backend == "xformers":
        if q.device.type != "cuda":
            raise RuntimeError(
                f"attention backend 'xformers' runs only on CUDA devices, got {q.device}; use attention_backend='sdpa'"
            )
        xops = importlib.import_module("xformers.ops")
        return xops.memory_efficient_attention(q, k, v)
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)
