"""Side by side, in one process: the official LivePortrait W+G (JoyVASA's copy) against this project's renderer.

Both load the same full-size recipe weights (the official files' layout and names) and render the same
driving keypoints. The official modules are imported from a JoyVASA checkout named by ``JOYVASA_OFFICIAL``
(its ``src/modules``); without one the benchmark says so and stops. Reported per variant: seconds per frame,
the speed-up over the official float32 batch-1 path, and the fidelity of the frames to the official ones
(PSNR and max abs difference over uint8 frames). Each batch size is timed for both, so the float32 paths are
compared at equal batches as well as against the official batch-1 path.

Usage: JOYVASA_OFFICIAL=/path/to/JoyVASA python -m benchmarks.bench_official [--frames N] [--write]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from benchmarks.common import frame_distance, machine, write_section
from model.precision import DTYPES, choose_batch_size, choose_precision
from model.render.loading import load_renderer
from model.render.renderer import prepare_source, render, to_uint8_frames
from model.testweights.writer import write_test_weights
from model.weights import resolve

HEADING = "## Renderer against the official code"
ENV = "JOYVASA_OFFICIAL"


def official_modules(checkout: Path, weights: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The official WarpingNetwork and SPADEDecoder, built from the checkout's models.yaml, with the weights."""
    sys.path.insert(0, str(checkout))
    from src.modules.spade_generator import SPADEDecoder
    from src.modules.warping_network import WarpingNetwork

    params = yaml.safe_load((checkout / "src/config/models.yaml").read_text())["model_params"]
    warping = WarpingNetwork(**params["warping_module_params"])
    spade = SPADEDecoder(**params["spade_generator_params"])
    for module, name in ((warping, "warping_module"), (spade, "spade_generator")):
        state = torch.load(weights / f"liveportrait/base_models/{name}.pth", map_location="cpu", weights_only=True)
        module.load_state_dict(state)
        module.eval()
    return warping, spade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=4, help="frames timed per variant (after one warm-up)")
    parser.add_argument("--write", action="store_true", help="put the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    checkout = Path(os.environ.get(ENV, ""))
    if not os.environ.get(ENV) or not (checkout / "src/modules/warping_network.py").is_file():
        print(f"skipped: set {ENV} to a JoyVASA checkout (with src/modules/) to compare against the official code")
        return
    device = torch.device("cpu")
    weights = write_test_weights(Path(tempfile.mkdtemp(prefix="bench_official_")) / "weights", size="full", seed=0)
    nets = load_renderer(resolve("human", weights), device)
    official_w, official_g = official_modules(checkout, weights)
    generator = torch.Generator().manual_seed(0)
    source = prepare_source(nets, (torch.rand(256, 256, 3, generator=generator) * 255).to(torch.uint8).numpy())
    x_d = source.motion.x_s + 0.02 * torch.randn(args.frames, 21, 3, generator=generator)

    with torch.inference_mode():
        def official(batch: int) -> np.ndarray:
            frames = []
            for kp in x_d.split(batch):
                # The official W takes one source per driving frame: the volume is repeated to the batch.
                volume = source.feature_3d.expand(len(kp), -1, -1, -1, -1).contiguous()
                kp_source = source.motion.x_s.expand(len(kp), -1, -1)
                frames.append(official_g(official_w(volume, kp_driving=kp, kp_source=kp_source)["out"]))
            return to_uint8_frames(torch.cat(frames)).numpy()

        def ours(batch: int, precision: str) -> np.ndarray:
            return torch.cat(list(render(nets, source, x_d, batch_size=batch, dtype=DTYPES[precision]))).numpy()

        best_batch = choose_batch_size(device, source.feature_3d.numel())
        balanced = choose_precision("auto", device, exact=False)
        variants = [
            ("official, fp32, batch 1", lambda: official(1)),
            ("this project, fp32, batch 1", lambda: ours(1, "fp32")),
            ("official, fp32, batch 4", lambda: official(4)),
            ("this project, fp32, batch 4", lambda: ours(4, "fp32")),
            (f"this project, balanced preset ({balanced}, batch {best_batch})", lambda: ours(best_batch, balanced)),
        ]
        rows, reference, base = [], None, None
        for label, run in variants:
            run()  # warm-up
            start = time.perf_counter()
            frames = run()
            per_frame = (time.perf_counter() - start) / args.frames
            reference = frames if reference is None else reference
            base = per_frame if base is None else base
            psnr, max_abs = frame_distance(frames, reference)
            rows.append(f"| {label} | {per_frame:.2f} | {base / per_frame:.2f}x | {psnr:.1f} | {max_abs} |")
            print(rows[-1], flush=True)
    section = "\n".join([
        HEADING, "",
        f"Machine: {machine()}; {datetime.date.today()}. Script: `python -m benchmarks.bench_official` (official "
        f"modules from a JoyVASA checkout, `{ENV}`). Full-size recipe weights, {args.frames} frames per variant.",
        "", "| variant | s / frame | speed-up | PSNR to official (dB) | max abs (uint8) |", "|---|---:|---:|---:|---:|",
        *rows, "",
    ])
    print(section)
    if args.write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
