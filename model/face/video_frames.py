"""The frames of a driving video, resampled to the motion's frame rate, as RGB arrays.

Any frame rate (constant or variable) becomes ``fps`` on the presentation times: output frame k shows the input
frame nearest in time to k / fps (times counted from the first frame; the last frame lasts one input frame). Frames are
decoded one at a time and only as many as asked for, so a long video costs no more than the part used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from model.media import open_media

log = logging.getLogger(__name__)

VIDEO_FORMATS_HINT = "mp4, mov, webm or mkv"


class DrivingVideoError(ValueError):
    """A driving video that cannot be used: missing, unreadable, without a video stream or frames."""


def video_frames(path: str | Path, fps: float, max_frames: int) -> Iterator[np.ndarray]:
    """Up to ``max_frames`` (H, W, 3) uint8 RGB frames of the first video stream of ``path`` at ``fps``.

    Raises :class:`DrivingVideoError` (naming the file, never its folder) for a missing, empty, non-media or
    damaged file, one without a video stream, or one whose stream holds no frame.
    """
    path = Path(path)
    name = path.name
    with open_media(path, DrivingVideoError, "a video file", VIDEO_FORMATS_HINT) as container:
        if not container.streams.video:
            raise DrivingVideoError(f"{name}: the file has no video stream; give a video of a face "
                                    f"({VIDEO_FORMATS_HINT})")
        stream = container.streams.video[0]
        emitted = 0
        held: np.ndarray | None = None
        held_time = start = 0.0
        try:
            for frame in container.decode(stream):
                if emitted >= max_frames:
                    return
                if held is None:
                    start = float(frame.time or 0.0)
                    time = 0.0
                else:
                    time = held_time + 1 / fps if frame.time is None else float(frame.time) - start
                if held is not None and time > held_time:
                    # Output times before the midpoint of two input frames are nearest to the first of them.
                    while emitted < max_frames and emitted / fps < (held_time + time) / 2:
                        yield held
                        emitted += 1
                held, held_time = frame.to_ndarray(format="rgb24"), time
            rate = float(stream.average_rate) if stream.average_rate else fps
            while held is not None and emitted < max_frames and emitted / fps < held_time + 0.5 / rate:
                yield held  # the last frame lasts one input frame: nearest up to half of it
                emitted += 1
        except av.FFmpegError as exc:
            log.info("decoding %s failed: %s", name, exc)
            raise DrivingVideoError(f"{name}: decoding failed; the video may be damaged or truncated") from exc
        if held is None:
            raise DrivingVideoError(f"{name}: the video stream holds no frame")
