"""Audio files made with PyAV for tests (no downloaded fixtures)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TONE_HZ = 440.0
SECONDS = 1.0
# (extension, encoder, container-level encoder options). FFmpeg's own vorbis encoder is
# experimental and stereo-only; opus encodes at 8/12/16/24/48 kHz only.
FORMATS = {
    "wav": ("pcm_s16le", {}),
    "flac": ("flac", {}),
    "mp3": ("mp3", {}),
    "m4a": ("aac", {}),
    "ogg": ("vorbis", {"strict": "experimental"}),
    "opus": ("opus", {}),
}
def write_audio(path: Path, signal: np.ndarray, rate: int) -> Path:
    """Encode (channels, samples) float32 in [-1, 1] with PyAV; the codec follows the extension."""
    codec, options = FORMATS[path.suffix[1:]]
    layout = "mono" if signal.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        stream.codec_context.options = options
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, signal.shape[1], frame_size):
            chunk = np.ascontiguousarray(signal[:, start : start + frame_size], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def tone(rate: int, channels: int, seconds: float = SECONDS) -> np.ndarray:
    """A 440 Hz sine of amplitude 0.5 on the first channel, silence on the others."""
    t = np.arange(round(rate * seconds)) / rate
    out = np.zeros((channels, t.size), dtype=np.float32)
    out[0] = 0.5 * np.sin(2 * np.pi * TONE_HZ * t)
    return out
