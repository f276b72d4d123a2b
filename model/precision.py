"""The renderer's precision and batch size for a device, chosen by measurement-backed rules, never silently.

Precision is part of the quality preset: the exact preset renders in float32 (the path the golden tests check);
the others take the fastest precision the device runs natively: float16 on GPUs (the official LivePortrait
default; as fast as bfloat16 there and much closer to float32: 54.6 dB PSNR against 40.6 dB on the golden render
case, ``benchmarks/bench_precision.py``), bfloat16 on CPUs with AVX512-BF16 or AMX (CPUs have no fast float16, and
on other CPUs bfloat16 is emulated and slower than float32), else float32. The choice is reported in the run's
notes.

Batch size: on a CPU, batching frames pays only while a batch's feature volumes stay small (measured on a
2-vCPU AVX2 machine: official sizes 11.6 s a frame at batch 1, 14.3 s at batch 4; the small test sizes
162 ms at batch 1, 99 ms at batch 4); on a GPU larger batches fill the device.
"""

from __future__ import annotations

from typing import Literal

import torch

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: Feature-volume elements (C x D x H x W, all frames of a batch) a CPU batch may hold before it slows down.
CPU_BATCH_ELEMENTS = 2**21
MAX_CPU_BATCH = 8
GPU_BATCH = 16


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (CUDA with bf16 support; a CPU with AVX512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16") or capabilities.get("amx_tile"))
    return False


def choose_precision(choice: Precision, device: torch.device, exact: bool) -> Precision:
    """The precision a run uses: ``choice`` unless "auto", which is fp32 for the exact preset and otherwise fp16
    on a GPU, bf16 on a CPU with native bf16, fp32 elsewhere (see the module docstring). fp16 on a CPU is refused
    (no native support)."""
    if choice not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {choice!r}")
    if choice == "fp16" and device.type == "cpu":
        raise ValueError("fp16 rendering needs a GPU; on a CPU use fp32, or bf16 where the CPU supports it")
    if choice != "auto":
        return choice
    if exact:
        return "fp32"
    if device.type == "cuda":
        return "fp16"
    return "bf16" if native_bf16(device) else "fp32"


def choose_batch_size(device: torch.device, volume_elements: int) -> int:
    """Frames per W+G call: on a CPU as many as keep the batch's feature volumes within
    :data:`CPU_BATCH_ELEMENTS` (1 at the official sizes), at most :data:`MAX_CPU_BATCH`; on a GPU
    :data:`GPU_BATCH`."""
    if device.type != "cpu":
        return GPU_BATCH
    return max(1, min(MAX_CPU_BATCH, CPU_BATCH_ELEMENTS // max(volume_elements, 1)))
