"""Per-network forward time at batch 1 (official sizes) and parameter counts.

Usage: python -m benchmarks.bench_networks [--repeats N] [--device cpu|cuda] [--write]
With --write, puts the table into benchmarks/RESULTS.md with the machine and date.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time

import torch

from benchmarks.common import machine, write_section
from model.render.appearance import AppearanceFeatureExtractor
from model.render.config import RendererConfig
from model.render.motion_extractor import MotionExtractor
from model.render.spade import SPADEDecoder
from model.render.stitching import StitchingRetargeting
from model.render.warping import WarpingNetwork

HEADING = "## Renderer networks"


def timed(fn, repeats: int, device: torch.device) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    device = torch.device(args.device)
    config = RendererConfig()
    torch.manual_seed(0)
    f_net = AppearanceFeatureExtractor(config.appearance).eval().to(device)
    m_net = MotionExtractor(config.motion_extractor).eval().to(device)
    w_net = WarpingNetwork(config.warping).eval().to(device)
    g_net = SPADEDecoder(config.spade).eval().to(device)
    s_net = StitchingRetargeting(config.stitching).eval().to(device)
    image = torch.rand(1, 3, 256, 256, device=device)
    kp_s, kp_d = 0.5 * torch.randn(1, 21, 3, device=device), 0.5 * torch.randn(1, 21, 3, device=device)
    with torch.inference_mode():
        feature = f_net(image)
        warped = w_net(feature, kp_source=kp_s, kp_driving=kp_d)["out"]
        cases = {
            "F appearance_feature_extractor": (f_net, lambda: f_net(image)),
            "M motion_extractor": (m_net, lambda: m_net(image)),
            "W warping_module": (w_net, lambda: w_net(feature, kp_source=kp_s, kp_driving=kp_d)),
            "G spade_generator": (g_net, lambda: g_net(warped)),
            "S stitching (3 MLPs)": (s_net, lambda: s_net.apply_stitching(kp_s, kp_d)),
        }
        rows = []
        for name, (net, fn) in cases.items():
            times = timed(fn, args.repeats, device)
            params = sum(p.numel() for p in net.parameters())
            rows.append(f"| {name} | {params:,} | {1000 * statistics.median(times):.1f} | {1000 * min(times):.1f} |")
            print(rows[-1], flush=True)
    table = "\n".join(
        [
            f"{HEADING} ({device.type})",
            "",
            "Batch 1, official sizes, float32.",
            f"Machine: {machine()}. Date: {datetime.date.today().isoformat()}.",
            f"Repeats: {args.repeats} after 1 warm-up.",
            "",
            "| network | parameters | median ms | min ms |",
            "|---|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print(table)
    if args.write:
        write_section(f"{HEADING} ({device.type})", table)


if __name__ == "__main__":
    main()
