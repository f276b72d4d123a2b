"""Streaming: seconds to the first segment and in total, streaming (``animate_stream``) vs not (``animate``).

Cases: a 5 s and a 60 s audio on small test weights, the fast preset (DDIM 10 steps), feature cache cold (a
fresh cache folder) and warm (the same inputs again); on full-size test weights on a CPU only the first
segment is timed (the stream is closed after it: a full-size frame costs seconds here). Models are loaded
before timing, as the demo preloads them. Without streaming the first thing a viewer can play is the finished
mp4, so its "first playable" time is its total.

Usage: python -m benchmarks.bench_streaming [--device cpu|cuda] [--sizes small,full] [--write]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import cv2

from benchmarks.common import machine, write_section
from model.cache import FeatureCache
from model.motion.sampler import SamplerConfig
from model.pipeline import AnimateOptions, Animator
from model.testweights import recipe
from model.testweights.writer import write_test_weights
from tests.audio_fixtures import write_audio
from tests.face_fixtures import image_with_faces

HEADING = "## Streaming (time to the first segment)"
FAST = SamplerConfig(kind="ddim", num_steps=10, cfg_scale=4.0, seed=0)
BALANCED = SamplerConfig(kind="dpmsolver++", num_steps=25, cfg_scale=4.0, seed=0)


def _stream(animator: Animator, image: Path, audio: Path, out: Path, options: AnimateOptions,
            first_only: bool) -> tuple[float, float | None]:
    """(seconds to the first segment, total seconds or None when stopped after the first)."""
    start = time.perf_counter()
    first = None
    with animator.animate_stream(image, audio, out, options) as stream:
        for _ in stream:
            first = first or time.perf_counter() - start
            if first_only:
                return first, None
    return first, time.perf_counter() - start


def _plain(animator: Animator, image: Path, audio: Path, out: Path, options: AnimateOptions) -> float:
    start = time.perf_counter()
    animator.animate(image, audio, out, options)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", default="small,full")
    parser.add_argument("--write", action="store_true", help="put the table into benchmarks/RESULTS.md")
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    work = Path(tempfile.mkdtemp(prefix="bench_streaming_"))
    image = work / "face.png"
    cv2.imwrite(str(image), image_with_faces(720, 960, [(330, 120, 320)])[:, :, ::-1])
    rows = []
    for size in args.sizes.split(","):
        weights = write_test_weights(work / f"weights_{size}", size=size, seed=0)
        first_only = size == "full" and not gpu
        sampler = BALANCED if gpu and size == "full" else FAST
        preset = "balanced" if sampler is BALANCED else "fast"
        options = AnimateOptions(sampler=sampler)  # the device's own batch size and precision
        for seconds in (5.0, 60.0):
            audio = write_audio(work / f"speech_{seconds:g}.wav", recipe.audio(int(16000 * seconds), 1)[None], 16000)
            animator = Animator(weights, device=args.device, cache=FeatureCache(work / f"cache_{size}_{seconds:g}"))
            animator.preload("human")
            for state in ("cold", "warm"):
                first, total = _stream(animator, image, audio, work / "stream.mp4", options, first_only)
                plain = None
                if not first_only:
                    if state == "cold":  # the plain run gets a cold cache of its own
                        animator.cache = FeatureCache(work / f"cache_plain_{size}_{seconds:g}")
                    plain = _plain(animator, image, audio, work / "plain.mp4", options)
                    if state == "cold":
                        animator.cache = FeatureCache(work / f"cache_{size}_{seconds:g}")
                cells = [f"{first:.2f}", "-" if total is None else f"{total:.1f}",
                         "-" if plain is None else f"{plain:.1f}",
                         "-" if plain is None or total is None else f"{total / plain:.2f}"]
                rows.append(f"| {size} | {preset} | {seconds:g} s | {state} | " + " | ".join(cells) + " |")
                print(rows[-1], flush=True)
    table = "\n".join([
        "| weights | preset | audio | cache | first segment (s) | total, streaming (s) | total, not streaming (s) "
        "| streaming / not |",
        "|---|---|---|---|---:|---:|---:|---:|",
        *rows,
    ])
    section = (
        f"{HEADING}\n\nMachine: {machine()}, device {args.device}; {datetime.date.today()}. Segments of 1 s; models "
        "loaded before timing. Not streaming, the first playable moment is the total.\n\n" + table + "\n"
    )
    print(section)
    if args.write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
