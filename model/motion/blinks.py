"""A blink schedule: how closed the eyes are at every frame (0 open as generated, 1 shut), seeded.

People blink about 15-20 times a minute, each blink lasting 0.1-0.3 s, closing faster than they open, at
intervals that are neither regular nor memoryless. Here the intervals follow a gamma distribution (shape 4:
spread, but never a burst of blinks) with the requested mean rate, at least half a second apart, and the first
blink falls somewhere within the first interval rather than at frame 0.
"""

from __future__ import annotations

import numpy as np

from model.validation import Range, check_number

#: Accepted blink rates, in blinks per minute (0: leave the generated eyes alone).
BLINK_RATE_RANGE = Range(0.0, 60.0)
#: Shortest and longest blink, seconds.
BLINK_SECONDS = (0.1, 0.3)
#: Share of a blink spent closing (the rest is opening, which is slower).
CLOSING_SHARE = 0.4
#: Shape of the gamma distribution of the intervals between blink starts.
INTERVAL_SHAPE = 4.0
#: The shortest interval between two blink starts, seconds.
MIN_INTERVAL = 0.5


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def blink_starts(seconds: float, rate_per_minute: float, seed: int | None) -> list[tuple[float, float]]:
    """(start, duration) in seconds of every blink that begins within ``seconds``."""
    check_number("blink rate", rate_per_minute, BLINK_RATE_RANGE)
    if rate_per_minute == 0 or seconds <= 0:
        return []
    rng = np.random.default_rng(seed)
    mean_interval = 60.0 / rate_per_minute

    def interval() -> float:
        return max(MIN_INTERVAL, float(rng.gamma(INTERVAL_SHAPE, mean_interval / INTERVAL_SHAPE)))

    blinks = []
    start = float(rng.uniform(0.0, 1.0)) * interval()
    while start < seconds:
        blinks.append((start, float(rng.uniform(*BLINK_SECONDS))))
        start += interval()
    return blinks


def blink_closure(n_frames: int, fps: float, rate_per_minute: float, seed: int | None) -> np.ndarray:
    """Eye closure per frame, float32 (n_frames,) in [0, 1]: 0 between blinks, rising to 1 (shut) and back
    within each blink of :func:`blink_starts`. All zeros for a rate of 0."""
    closure = np.zeros(n_frames, np.float32)
    times = np.arange(n_frames) / fps
    for start, duration in blink_starts(n_frames / fps, rate_per_minute, seed):
        phase = (times - start) / duration  # 0..1 within the blink
        closing = _smoothstep(phase / CLOSING_SHARE)
        opening = 1.0 - _smoothstep((phase - CLOSING_SHARE) / (1.0 - CLOSING_SHARE))
        shape = np.where(phase < CLOSING_SHARE, closing, opening)
        # A blink shorter than a frame still shuts the eyes on the frame nearest its peak.
        peak = round((start + CLOSING_SHARE * duration) * fps)
        inside = (phase >= 0) & (phase <= 1)
        closure = np.maximum(closure, np.where(inside, shape, 0.0).astype(np.float32))
        if 0 <= peak < n_frames:
            closure[peak] = 1.0
    return closure
