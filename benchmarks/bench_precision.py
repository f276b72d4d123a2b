"""How far each render precision's frames are from float32: PSNR and max abs over uint8 frames.

Two cases, full-size recipe weights, W+G as the pipeline runs them (``render_float`` + the official uint8
conversion): the golden render case (``g_render.npz``: 4 frames, against the official float32 frames it stores)
and a clip (the golden motion sequence ``f4``, 228 frames / 9.1 s, driving the same source; on a CPU every
``--stride``-th frame, so the measured frames span the whole clip), against this project's float32 frames.

A precision the device has no native kernels for (bfloat16 on CPUs without AVX512-BF16/AMX, float16 on any CPU:
there oneDNN falls back to reference kernels some 500x slower than float32) is emulated: the same autocast runs,
and :class:`EmulatedMatmulPrecision` computes each convolution and matrix product from the low-precision inputs
in float32 and rounds the result to the low precision, as native kernels do (float32 accumulation). The
summation order may differ from a native kernel's, so an emulated frame can differ from a native one by about
one low-precision rounding step in a few values; the table says which rows are emulated.

Usage: python -m benchmarks.bench_precision [--device cpu|cuda] [--stride 12] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from benchmarks.common import frame_distance, machine, write_section
from model.motion.sequence import MotionSequence
from model.precision import DTYPES, native_bf16
from model.render.composition import driving_keypoints
from model.render.loading import RendererNetworks
from model.render.renderer import PreparedSource, prepare_source, render_float, to_uint8_frames
from tests.golden import load_case
from tests.render_golden import case_motion, case_options, case_renderer

HEADING = "## Render precision (distance to float32)"
#: Operators whose reduced-precision CPU kernels are the slow reference ones; all accumulate in float32 natively.
#: (A mode sees composite operators such as conv2d before they decompose.)
MATMUL_OPS = {getattr(torch.ops.aten, name) for name in (
    "conv1d", "conv2d", "conv3d", "convolution", "_convolution", "linear", "matmul", "addmm", "mm", "bmm", "baddbmm")}
MOTION_FIELDS = ("exp", "scale", "t", "pitch", "yaw", "roll", "R")


class EmulatedMatmulPrecision(TorchDispatchMode):
    """Runs convolutions and matrix products whose inputs are float16/bfloat16 in float32 on the exactly
    widened inputs, then rounds the result to the inputs' dtype; every other operator runs as dispatched.
    ``emulated`` counts the operators it computed that way."""

    def __init__(self) -> None:
        super().__init__()
        self.emulated = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        low = {a.dtype for a in args if isinstance(a, torch.Tensor) and a.dtype in (torch.float16, torch.bfloat16)}
        if func.overloadpacket not in MATMUL_OPS or len(low) != 1:
            return func(*args, **kwargs)
        self.emulated += 1
        widen = [a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
        device = next(a.device for a in args if isinstance(a, torch.Tensor))
        # Autocast sits above this mode and would cast the widened inputs straight back.
        with torch.autocast(device.type, enabled=False):
            return func(*widen, **kwargs).to(low.pop())


def natively_supported(precision: str, device: torch.device) -> bool:
    """Whether ``device`` has native kernels for ``precision`` (fp32 always)."""
    if precision == "fp32":
        return True
    if precision == "bf16":
        return native_bf16(device)
    return device.type == "cuda"


def frames(
    nets: RendererNetworks, source: PreparedSource, x_d: torch.Tensor, precision: str, batch: int
) -> np.ndarray:
    """uint8 (n, H, W, 3) frames of ``x_d`` rendered in ``precision``, emulated where not native."""
    device = x_d.device
    emulate = not natively_supported(precision, device)
    with EmulatedMatmulPrecision() if emulate else contextlib.nullcontext():
        batches = render_float(nets, source, x_d, batch_size=batch, dtype=DTYPES[precision])
        return np.concatenate([to_uint8_frames(images).cpu().numpy() for images in batches])


def clip_motion(stride: int) -> MotionSequence:
    """Every ``stride``-th frame of the golden f4 motion sequence (its ``smooth_*`` fields)."""
    case = load_case("f4_motion_sequence.npz")
    return MotionSequence(**{k: case[f"smooth_{k}"][::stride] for k in MOTION_FIELDS}, fps=25 / stride)


def rows(device: torch.device, stride: int, batch: int) -> Iterator[str]:
    case = load_case("g_render.npz")
    nets = case_renderer(case)
    for module in nets.modules().values():
        module.to(device)
    source = prepare_source(nets, case["source_rgb"])
    options = case_options(case)
    golden_kp = driving_keypoints(nets.stitching, source.motion, case_motion(case), options)
    clip_kp = driving_keypoints(nets.stitching, source.motion, clip_motion(stride), options)
    references = {"golden": case["frames_uint8"], "clip": frames(nets, source, clip_kp, "fp32", batch)}
    for precision in ("fp32", "bf16", "fp16"):
        how = "native" if natively_supported(precision, device) else "emulated"
        for name, x_d in (("golden", golden_kp), ("clip", clip_kp)):
            # The clip's float32 frames are its reference: rendering them again would only repeat them.
            rendered = references[name] if (name, precision) == ("clip", "fp32") else frames(
                nets, source, x_d, precision, batch)
            psnr, max_abs = frame_distance(rendered, references[name])
            label = "g_render, 4 frames vs official fp32" if name == "golden" else (
                f"f4 clip, {len(x_d)} frames (every {stride}th of 228) vs this project's fp32")
            line = f"| {precision} ({how}) | {label} | {psnr:.2f} | {max_abs} |"
            print(line, flush=True)
            yield line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--stride", type=int, default=12, help="render every STRIDE-th clip frame (1 = all 228)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--write", action="store_true", help="put the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    table = list(rows(torch.device(args.device), args.stride, args.batch))
    section = "\n".join([
        HEADING,
        "",
        f"Machine: {machine()}; device {args.device}. Date: {datetime.date.today().isoformat()}. "
        "Script: `python -m benchmarks.bench_precision`.",
        "",
        "Full-size recipe weights, W+G under the precision's autocast, then the official uint8 conversion. "
        "Emulated rows: the device has no native kernels, so convolutions and matrix products are computed in "
        "float32 from the low-precision inputs and rounded to the low precision, as native kernels do.",
        "",
        "| precision | case | PSNR (dB) | max abs (uint8) |",
        "|---|---|---:|---:|",
        *table,
    ])
    if args.write:
        write_section(HEADING, section + "\n")
    print(section)


if __name__ == "__main__":
    main()
