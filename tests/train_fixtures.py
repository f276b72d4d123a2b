"""Talking-head videos for the training tests: a schematic face that moves, real H.264 and AAC speech-like audio,
at any frame rate (or a variable one), with or without sound or a face."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from model.testweights import recipe
from tests.face_fixtures import image_with_faces

MS = Fraction(1, 1000)


def talking_video(path: Path, seconds: float, fps: float = 25, seed: int = 0, sound: bool = True,
                  face: bool = True, variable: bool = False) -> Path:
    """Write ``path``: the face drifts and nods for ``seconds`` at ``fps`` (gaps alternating 0.5x and 1.5x when
    ``variable``), with ``seed``'s speech-like audio at 16 kHz when ``sound``."""
    n = round(seconds * fps)
    gaps = [(0.5 if i % 2 else 1.5) if variable else 1.0 for i in range(n)]
    times = np.cumsum([0.0] + [g * 1000 / fps for g in gaps[:-1]]).round().astype(int)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=int(fps))
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.time_base = video.codec_context.time_base = MS
        audio_stream = container.add_stream("aac", rate=16000) if sound else None
        for i, time in enumerate(times):
            phase = 2 * np.pi * i / max(n, 1)
            faces = [(80 + int(20 * np.sin(phase)), 30 + int(10 * np.sin(2 * phase)), 150)] if face else []
            frame = av.VideoFrame.from_ndarray(image_with_faces(240, 320, faces), format="rgb24")
            frame.pts, frame.time_base = int(time), MS
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio_stream is not None:
            samples = recipe.audio(int(16000 * seconds), seed).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(samples[None], format="flt", layout="mono")
            frame.sample_rate, frame.pts = 16000, 0
            container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode())
    return path
