"""End-to-end Animator timings: per-stage seconds and rendered frames per second.

Cases (CPU): a 10 s clip on small test weights and a 2 s clip on full-size test weights, each at
batch 1 and at the default batch, cache cold then warm (same image and audio again). With
``--device cuda``: a 10 s clip at full size in float32 and in half precision.

Usage: python -m benchmarks.bench_pipeline [--device cpu|cuda] [--write]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2

from benchmarks.common import machine, write_section
from model.cache import FeatureCache
from model.motion.sampler import SamplerConfig
from model.pipeline import AnimateOptions, AnimationResult, Animator
from model.testweights import recipe
from model.testweights.writer import write_test_weights
from tests.audio_fixtures import write_audio
from tests.face_fixtures import image_with_faces

HEADING = "## Pipeline (Animator end to end)"
STAGES = ("inputs", "source", "motion", "render")


def row(label: str, result: AnimationResult) -> str:
    cells = " | ".join(f"{result.timings[s]:.2f}{' (hit)' if result.cache_hits.get(s) else ''}" for s in STAGES)
    fps = result.n_frames / result.timings["render"]
    return f"| {label} | {result.n_frames} | {cells} | {result.timings['total']:.1f} | {fps:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write", action="store_true", help="put the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    image = work / "face.png"
    cv2.imwrite(str(image), image_with_faces(720, 960, [(330, 120, 320)])[:, :, ::-1])
    sampler = SamplerConfig(kind="dpmsolver++", num_steps=25, cfg_scale=4.0, seed=0)
    gpu = args.device.startswith("cuda")
    cases = [("small", 10.0, [1, 4], [None])]
    cases.append(("full", 10.0 if gpu else 2.0, [1, 4] if not gpu else [16], [None, "fp16"] if gpu else [None]))
    rows = []
    for size, seconds, batches, halves in cases:
        weights = write_test_weights(work / f"weights_{size}", size=size, seed=0)
        audio = write_audio(work / f"speech_{size}.wav", recipe.audio(int(16000 * seconds), 1)[None], 16000)
        for batch in batches:
            for half in halves:
                options = AnimateOptions(sampler=sampler, batch_size=batch, precision=half or "fp32")
                animator = Animator(
                    weights, device=args.device, cache=FeatureCache(work / f"cache_{size}_{batch}_{half}")
                )
                # warm (cached source, audio features and motion) only matters once per size: rendering dominates
                for attempt in ("cold", "warm") if batch == batches[-1] else ("cold",):
                    result = animator.animate(image, audio, work / "out.mp4", replace(options))
                    label = f"{size}, {seconds:g} s audio, batch {batch}{', ' + half if half else ''}, cache {attempt}"
                    rows.append(row(label, result))
                    print(rows[-1], flush=True)
    table = "\n".join(
        [
            HEADING,
            "",
            f"Machine: {machine()}; device {args.device}. Date: {datetime.date.today().isoformat()}. "
            "Script: `python -m benchmarks.bench_pipeline`.",
            "",
            "Human mode, 960x720 source (OpenCV cascade crop, paste-back on), DPM-Solver++ 25 steps, guidance 4.0, "
            "seed 0. Seconds per stage (a warm run reuses the cached source, audio features and motion); motion "
            "(HuBERT and sampling, window by window on a worker thread) overlaps render; total is the wall time; "
            "fps = rendered frames per second of the render stage (W+G, paste-back and H.264 encoding included).",
            "",
            "| case | frames | inputs | source | motion | render | total s | render fps |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    print(table)
    if args.write:
        write_section(HEADING, table)


if __name__ == "__main__":
    main()
