"""Choosing the renderer's precision and batch size for a device (model.precision)."""

from __future__ import annotations

import pytest
import torch

from model import precision
from model.precision import choose_batch_size, choose_precision

CPU, GPU = torch.device("cpu"), torch.device("cuda")


@pytest.mark.parametrize(("native", "exact", "device", "expected"), [
    (False, True, CPU, "fp32"), (False, False, CPU, "fp32"), (True, False, CPU, "bf16"), (True, True, CPU, "fp32"),
    (True, False, GPU, "fp16"), (False, False, GPU, "fp16"), (True, True, GPU, "fp32"),
])
def test_auto_is_the_fastest_faithful_native_precision_except_for_the_exact_preset(monkeypatch, native, exact, device,
                                                                          expected) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda d: native)
    assert choose_precision("auto", device, exact=exact) == expected


def test_explicit_choices_are_kept_and_impossible_ones_refused() -> None:
    assert choose_precision("bf16", CPU, exact=True) == "bf16"  # asked for: used, even where it is emulated
    assert choose_precision("fp32", GPU, exact=False) == "fp32"
    with pytest.raises(ValueError, match="fp16 rendering needs a GPU"):
        choose_precision("fp16", CPU, exact=False)
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("fp8", CPU, exact=False)


def test_native_bf16_follows_the_cpu_capabilities(monkeypatch) -> None:
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": False, "amx_bf16": True})
    assert precision.native_bf16(CPU)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True})
    assert not precision.native_bf16(CPU)


def test_batch_size_keeps_cpu_batches_small_at_full_size() -> None:
    assert choose_batch_size(CPU, 32 * 16 * 64 * 64) == 1  # the official feature volume
    assert choose_batch_size(CPU, 8 * 8 * 16 * 16) == precision.MAX_CPU_BATCH  # the small test sizes
    assert choose_batch_size(GPU, 32 * 16 * 64 * 64) == precision.GPU_BATCH
