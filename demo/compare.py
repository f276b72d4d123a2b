"""Comparison grids: which runs to make, and tiling their videos into one labelled side-by-side mp4.

The runs go audio by audio, so with the Animator's feature cache the audio features and the motion of
an (audio, guidance, seed) are computed for the first image and reused for every other image.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from model.validation import Range, parse_number
from model.video import VideoOptions, VideoWriter

CELL = 320  # side of one video's square in the grid (even, for yuv420p)
LABEL = 32  # height of the label bar above each video
MAX_COLUMNS = 3


@dataclass(frozen=True)
class Cell:
    """One run of a comparison and its label in the grid."""

    image: str
    audio: str
    guidance_scale: float
    seed: int
    label: str
    #: The motion control compared (a name of :data:`demo.options.CONTROLS`) and its value, if any.
    control: str | None = None
    value: float | None = None


def parse_numbers(text: object, what: str, allowed: Range, integer: bool = False) -> list:
    """``"1, 2.5 3"`` -> numbers (ints when ``integer``), each checked against ``allowed``; ValueError naming
    ``what`` otherwise."""
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        raise ValueError(f"{what} must be numbers separated by commas; got {type(text).__name__}")
    parts = [p for p in str(text).replace(",", " ").split() if p]
    return [parse_number(f"each of the {what}", p, allowed, integer) for p in parts]


def plan_cells(
    images: Sequence[str], audios: Sequence[str], guidance_scales: Sequence[float], seeds: Sequence[int],
    max_cells: int,
    control: str | None = None,
    values: Sequence[float] = (),
) -> list[Cell]:
    """Every (audio, guidance, seed, control value, image) combination, audio first; labels name what differs.
    ``control``: a motion control compared over ``values`` (None: none)."""
    if not images or not audios:
        raise ValueError("a comparison needs at least one image and one audio")
    axis = list(values) if control else [None]
    combos = list(itertools.product(audios, guidance_scales, seeds, axis, images))
    if len(combos) > max_cells:
        raise ValueError(
            f"{len(images)} image(s) x {len(audios)} audio(s) x {len(guidance_scales)} guidance scale(s) x "
            f"{len(seeds)} seed(s) x {len(axis)} control value(s) make {len(combos)} videos; this demo compares at "
            f"most {max_cells}"
        )
    cells = []
    for audio, guidance, seed, value, image in combos:
        parts = [Path(image).stem] if len(images) > 1 or len(combos) == 1 else []
        if len(audios) > 1:
            parts.append(Path(audio).stem + (" (heard)" if audio == audios[0] else ""))
        if len(guidance_scales) > 1:
            parts.append(f"guidance {guidance:g}")
        if len(seeds) > 1:
            parts.append(f"seed {seed}")
        if control:
            parts.append(f"{control.replace('_', ' ')} {value:g}")
        cells.append(Cell(image, audio, guidance, seed, " | ".join(parts), control, value))
    return cells


def _fit(frame: np.ndarray, side: int) -> np.ndarray:
    """Letterbox an RGB frame into a black ``side`` x ``side`` square."""
    height, width = frame.shape[:2]
    scale = side / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    out = np.zeros((side, side, 3), np.uint8)
    top, left = (side - new_h) // 2, (side - new_w) // 2
    out[top : top + new_h, left : left + new_w] = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return out


def _label_bar(text: str) -> np.ndarray:
    """A dark bar with ``text`` (ASCII; other characters shown as '?') fitted to the cell width."""
    bar = np.full((LABEL, CELL, 3), 32, np.uint8)
    text = text.encode("ascii", "replace").decode()
    scale = 0.55
    while scale > 0.3 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > CELL - 12:
        scale -= 0.05
    cv2.putText(bar, text, (6, LABEL - 11), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return bar


def _frames(path: Path) -> Iterator[np.ndarray]:
    """Decoded RGB frames of an mp4, one at a time."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def tile_videos(
    videos: Sequence[Path], labels: Sequence[str], soundtrack: str | Path, out_path: Path, options: VideoOptions
) -> Path:
    """One mp4 with ``videos`` side by side (up to 3 a row), each under its label, with ``soundtrack``'s audio.

    The grid lasts as long as the soundtrack; a video that ends earlier holds its last frame.
    """
    columns = min(len(videos), MAX_COLUMNS)
    rows = math.ceil(len(videos) / columns)
    bars = [_label_bar(label) for label in labels]
    sources = [_frames(path) for path in videos]
    last: list[np.ndarray | None] = [None] * len(videos)
    canvas = np.zeros((rows * (CELL + LABEL), columns * CELL, 3), np.uint8)
    try:
        with VideoWriter(out_path, soundtrack, options) as writer:
            while not writer.complete:
                for index, source in enumerate(sources):
                    frame = next(source, None)
                    if frame is not None:
                        last[index] = _fit(frame, CELL)
                    top, left = (index // columns) * (CELL + LABEL), (index % columns) * CELL
                    canvas[top : top + LABEL, left : left + CELL] = bars[index]
                    if last[index] is not None:
                        canvas[top + LABEL : top + LABEL + CELL, left : left + CELL] = last[index]
                writer.write(canvas)
    finally:
        for source in sources:
            source.close()
    return out_path
