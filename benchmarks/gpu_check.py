"""The prepared GPU check (issue 11): one run, one results file, well under 8 minutes on one H200.

Measures, on full-size test weights (the official sizes):
- render throughput (W+G, frames per second) at batch 1, 8 and 32 in fp32, bf16 and fp16; the balanced preset's
  precision (fp16 on a GPU) also under ``torch.compile`` and with CUDA graphs (``mode="reduce-overhead"``);
- the sampler's seconds per 4 s window for each preset (exact, balanced, fast);
- a 10 s clip end to end, warm (motion, render, paste-back, encode), for each preset;
- peak GPU memory.

``--quick`` runs tiny sizes on whatever device there is (the CPU here), to check the script itself before a
GPU is ever lent: the same code paths, small numbers.

Usage: python -m benchmarks.gpu_check [--quick] [--out FILE]   (benchmarks/gpu_check.sh wraps it)
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import torch

from benchmarks.common import machine
from model.motion.noise import SeededNoise
from model.motion.sampler import SamplerConfig, sample_window
from model.motion.windows import iter_windows
from model.pipeline import AnimateOptions, Animator
from model.precision import DTYPES, choose_precision, native_bf16
from model.render.renderer import render
from model.testweights import recipe
from model.testweights.writer import write_test_weights
from tests.audio_fixtures import write_audio
from tests.face_fixtures import image_with_faces

PRESETS = {
    "exact": SamplerConfig(kind="ddpm", cfg_scale=4.0, seed=0),
    "balanced": SamplerConfig(kind="dpmsolver++", num_steps=25, cfg_scale=4.0, seed=0),
    "fast": SamplerConfig(kind="ddim", num_steps=10, cfg_scale=4.0, seed=0),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    fn()  # warm-up (and compilation)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def render_rows(animator: Animator, device: torch.device, quick: bool) -> list[str]:
    """Frames per second of W+G for each batch size, precision and compilation mode."""
    nets = animator.renderer("human")
    from model.render.renderer import prepare_source

    source = prepare_source(nets, torch.rand(256, 256, 3).mul(255).to(torch.uint8).numpy())
    rows = []
    batches = (1, 4) if quick else (1, 8, 32)
    # Emulated bfloat16 (a CPU without AVX512-BF16/AMX) is far too slow to be worth timing.
    precisions = ("fp32", "bf16", "fp16") if device.type == "cuda" else ("fp32", "bf16")[: 1 + native_bf16(device)]
    variants = [(p, b, "eager") for p in precisions for b in batches]
    if device.type == "cuda":
        balanced = choose_precision("auto", device, exact=False)
        variants += [(balanced, b, mode) for b in batches[1:] for mode in ("compile", "cuda graphs")]
    for precision, batch, mode in variants:
        x_d = source.motion.x_s.expand(batch, -1, -1) + 0.01 * torch.randn(batch, 21, 3, device=device)
        spade = nets.spade
        if mode != "eager":
            nets.spade = torch.compile(spade, mode="reduce-overhead" if mode == "cuda graphs" else "default")
        try:
            def one(x_d=x_d, batch=batch, dtype=DTYPES[precision]) -> torch.Tensor:
                return next(render(nets, source, x_d, batch_size=batch, dtype=dtype))

            seconds = _seconds(one, device, 2 if quick else 5)
            cell = f"{batch / seconds:.1f}"
        except Exception as exc:  # reported in the table, the check goes on
            cell = f"failed: {type(exc).__name__}"
        finally:
            nets.spade = spade
        rows.append(f"| {precision} | {batch} | {mode} | {cell} |")
        print(rows[-1], flush=True)
    return rows


def sampler_rows(animator: Animator, device: torch.device, quick: bool) -> list[str]:
    """Seconds per 4 s window for each preset (HuBERT excluded: features computed first)."""
    generator, _ = animator.generator("human")
    audio = torch.from_numpy(recipe.audio(16000 * 4, 2))
    window = next(iter_windows(generator, audio, PRESETS["fast"]))
    rows = []
    for name, config in PRESETS.items():
        if quick and name == "exact":
            continue
        def one(config: SamplerConfig = config) -> None:
            with torch.inference_mode():
                sample_window(generator, window.audio_feat[None], generator.start_motion_feat,
                              generator.start_audio_feat, torch.randn_like(window.motion[None]), config,
                              SeededNoise(0, device))

        rows.append(f"| {name} | {config.kind} | {config.steps_for(generator.config.n_diff_steps)} | "
                    f"{_seconds(one, device, 1 if name == 'exact' else 3):.3f} |")
        print(rows[-1], flush=True)
    return rows


def end_to_end_rows(animator: Animator, work: Path, quick: bool) -> list[str]:
    """A 10 s clip (2 s in quick mode), warm cache (the second run), per preset."""
    seconds = 2.0 if quick else 10.0
    image = work / "face.png"
    cv2.imwrite(str(image), image_with_faces(720, 960, [(330, 120, 320)])[:, :, ::-1])
    audio = write_audio(work / "speech.wav", recipe.audio(int(16000 * seconds), 1)[None], 16000)
    rows = []
    for name, config in PRESETS.items():
        if quick and name == "exact":
            continue
        options = AnimateOptions(sampler=config)
        animator.animate(image, audio, work / "cold.mp4", options)
        result = animator.animate(image, audio, work / "warm.mp4", options)
        first = result.first_segment_seconds
        rows.append(f"| {name} | {seconds:g} s | {result.timings['total']:.2f} | {result.n_frames} | "
                    f"{'; '.join(result.notes[1:])} |")
        print(rows[-1], first, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes on any device: checks the script")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.md"))
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))
    start = time.perf_counter()
    weights = write_test_weights(work / "weights", size="small" if args.quick else "full", seed=0)
    from model.cache import FeatureCache

    animator = Animator(weights, device=device, cache=FeatureCache(work / "cache"))
    animator.preload("human")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sections = [
        f"# GPU check\n\nMachine: {machine()}; device {device}; {datetime.date.today()}; "
        f"{'quick (small test weights)' if args.quick else 'full-size test weights'}.\n",
        "## Render (W+G)\n\n| precision | batch | mode | frames/s |\n|---|---:|---|---:|\n"
        + "\n".join(render_rows(animator, device, args.quick)),
        "## Sampler (one 4 s window)\n\n| preset | sampler | steps | seconds |\n|---|---|---:|---:|\n"
        + "\n".join(sampler_rows(animator, device, args.quick)),
        "## End to end, warm cache\n\n| preset | audio | seconds | frames | render |\n|---|---|---:|---:|---|\n"
        + "\n".join(end_to_end_rows(animator, work, args.quick)),
    ]
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    sections.append(f"Peak GPU memory: {'-' if peak is None else f'{peak:.1f} GiB'}. "
                    f"Whole check: {time.perf_counter() - start:.0f} s.\n")
    args.out.write_text("\n\n".join(sections))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
