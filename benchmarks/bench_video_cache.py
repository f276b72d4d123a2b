"""Time of the mp4 writer (frames + audio) and of the feature cache on this machine.

Usage: PYTHONPATH=. python benchmarks/bench_video_cache.py [--presets veryfast,medium] [--frames 250]
Frames are a textured still with a moving mouth-sized patch and a slow sway, like a talking
head; only the time inside the writer (construction, write, close) is counted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from model.cache import FeatureCache, cache_key
from model.video import VideoOptions, VideoWriter


def speech_like_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(round(seconds * rate)) / rate
    signal = (0.3 * np.sin(2 * np.pi * 180 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(signal[None], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def textured(height: int, width: int) -> np.ndarray:
    """A photo-like still: noise low-passed at a few scales, (H, W, 3) uint8."""
    rng = np.random.default_rng(0)
    spectrum = np.fft.rfft2(rng.standard_normal((3, height, width)))
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None]
    image = np.fft.irfft2(spectrum / (1e-3 + np.hypot(fy, fx)) ** 1.2, s=(height, width)).transpose(1, 2, 0)
    image = (image - image.min()) / np.ptp(image)
    return (255 * image).astype(np.uint8)


def encode_seconds(height: int, width: int, n_frames: int, preset: str, audio: Path, out: Path) -> float:
    base = textured(height, width)
    mh, mw = height // 8, width // 6
    spent = 0.0
    start = time.perf_counter()
    writer = VideoWriter(out, audio, VideoOptions(crf=18, preset=preset))
    spent += time.perf_counter() - start
    for k in range(n_frames):
        frame = np.roll(base, round(3 * np.sin(k / 20)), axis=1)
        top = height // 2 + round(mh * 0.3 * np.sin(k / 3))
        frame[top : top + mh, (width - mw) // 2 : (width + mw) // 2] = (40 + 8 * (k % 10), 20, 30)
        start = time.perf_counter()
        writer.write(frame)
        spent += time.perf_counter() - start
    start = time.perf_counter()
    writer.close()
    return spent + time.perf_counter() - start


def cache_seconds(folder: Path, repeats: int = 5) -> tuple[float, float]:
    volume = np.random.default_rng(0).standard_normal((32, 16, 64, 64), dtype=np.float32)  # the F output, 8 MiB
    puts, gets = [], []
    with FeatureCache(folder) as cache:
        for i in range(repeats):
            key = cache_key("bench", i)
            start = time.perf_counter()
            cache.put(key, {"feature_volume": volume})
            puts.append(time.perf_counter() - start)
            start = time.perf_counter()
            cache.get(key)
            gets.append(time.perf_counter() - start)
    return statistics.median(puts), statistics.median(gets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="veryfast")
    parser.add_argument("--frames", type=int, default=250)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        audio = speech_like_wav(folder / "speech.wav", args.frames / 25)
        print(f"| size | preset | {args.frames} frames (s) | frames/s | MB |")
        print("|---|---|---|---|---|")
        for height, width in ((512, 512), (720, 1280)):
            for preset in args.presets.split(","):
                out = folder / f"{width}x{height}_{preset}.mp4"
                seconds = encode_seconds(height, width, args.frames, preset, audio, out)
                size = out.stat().st_size / 1e6
                print(f"| {width}x{height} | {preset} | {seconds:.2f} | {args.frames / seconds:.0f} | {size:.1f} |")
        put, get = cache_seconds(folder / "cache")
        print(f"\nfeature cache, (32, 16, 64, 64) float32 (8 MiB): put {put * 1e3:.0f} ms, get {get * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
