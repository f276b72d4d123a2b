"""Training: seconds per optimisation step of the motion generator (``model.train.step.train_step``).

Cases: the small size (``make-test-weights --size small``) and the full size (the released network), batch 2
and the official 16 where the device allows, synthetic inputs (two 4 s clips of audio and normalised motion per
item), the official objective with dropout on, fp32 and (with --bf16: where the device runs it natively) bf16
autocast side by side. One warm-up step, then the median of the timed steps.

Usage: python -m benchmarks.bench_training [--device cpu|cuda] [--sizes small,full] [--steps 3] [--bf16] [--write]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time

import torch

from benchmarks.common import machine, write_section
from model.train.fit import FitConfig, build_model
from model.train.step import StepDraws, TrainingObjective, step_forward

HEADING = "## Training (seconds per step)"


def seconds_per_step(size: str, batch: int, device: str, bf16: bool, steps: int) -> float:
    model = build_model(FitConfig(size=size), seed=0).to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    audio = tuple(0.1 * torch.randn(batch, 64000, generator=generator).to(device) for _ in range(2))
    motion = tuple(torch.rand(batch, 100, 70, generator=generator).to(device) for _ in range(2))
    objective = TrainingObjective()
    times = []
    for _ in range(steps + 1):
        draws = StepDraws.sample(model, batch, objective, generator)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            losses = step_forward(model, audio, motion, draws, objective).losses
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="small,full")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="also time bf16 autocast (slow where emulated)")
    parser.add_argument("--write", action="store_true", help="write the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    batches = (2, 16) if args.device.startswith("cuda") else (2,)
    rows = []
    for size in args.sizes.split(","):
        for batch in batches:
            fp32 = seconds_per_step(size, batch, args.device, False, args.steps)
            if args.bf16:
                bf16 = seconds_per_step(size, batch, args.device, True, args.steps)
                rows.append(f"| {size} | {batch} | {fp32:.2f} | {bf16:.2f} | {fp32 / bf16:.2f} |")
            else:
                rows.append(f"| {size} | {batch} | {fp32:.2f} | - | - |")
            print(rows[-1], flush=True)
    section = "\n".join([
        HEADING, "",
        f"Machine: {machine()}; device {args.device}. Date: {datetime.date.today()}. Script: "
        "`python -m benchmarks.bench_training`. Official objective, dropout on, synthetic inputs; median of "
        f"{args.steps} steps after one warm-up.", "",
        "| size | batch | fp32 s/step | bf16 autocast s/step | fp32 / bf16 |", "|---|---:|---:|---:|---:|", *rows, "",
    ])
    print(section)
    if args.write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
