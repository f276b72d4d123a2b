"""Audio files to 16 kHz mono float32 with PyAV (FFmpeg): wav, mp3, m4a/aac, ogg/vorbis, opus, flac, ...

Channels are averaged, as librosa's mono conversion in the official wrapper does (FFmpeg's own
downmix would weight them by 1/sqrt(2) instead); averaging commutes with resampling, so every
channel is resampled first and the mean taken after. Video files work too (first audio track).
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16000
#: Longest accepted input by default: 10 minutes.
DEFAULT_MAX_SECONDS = 600.0
_FORMATS_HINT = "wav, mp3, m4a/aac, ogg/vorbis, opus or flac"


class AudioError(ValueError):
    """An audio input that cannot be used: missing, unreadable, without samples, or too long."""


def _declared_seconds(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float | None:
    """Duration announced by the container or the stream header, if any (it may be an estimate)."""
    if container.duration is not None:
        return container.duration / av.time_base
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _too_long(path: Path, seconds: float, max_seconds: float) -> AudioError:
    return AudioError(
        f"{path}: audio is {seconds:.1f} s long, above the limit of {max_seconds:.0f} s; "
        "cut it into shorter parts or raise the limit (max_seconds)"
    )


def load_audio(path: str | Path, max_seconds: float = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Decode the first audio stream of ``path`` to (N,) float32 samples at 16 kHz, mono.

    Raises :class:`AudioError` when the file is missing, empty, not a media file, has no audio
    stream, decodes to zero samples, contains non-finite samples, or is longer than
    ``max_seconds`` (checked from the header before decoding, then while decoding). Silence is
    valid input.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file; give the path of an audio file ({_FORMATS_HINT})")
    if not path.is_file():
        raise AudioError(f"{path}: not a file; give the path of an audio file ({_FORMATS_HINT})")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty; give an audio file ({_FORMATS_HINT})")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc}); use {_FORMATS_HINT}") from exc
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path}: the file has no audio stream; give an audio file ({_FORMATS_HINT})")
        stream = container.streams.audio[0]
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds:
            raise _too_long(path, declared, max_seconds)
        limit = math.ceil(max_seconds * SAMPLE_RATE)
        resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)  # planar float, input layout kept
        chunks: list[np.ndarray] = []
        n_samples = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
                    n_samples += out.samples
                if n_samples > limit:
                    raise _too_long(path, n_samples / SAMPLE_RATE, max_seconds)
            chunks.extend(out.to_ndarray().mean(axis=0, dtype=np.float32) for out in resampler.resample(None))
        except (av.FFmpegError, ValueError) as exc:
            if isinstance(exc, AudioError):
                raise
            raise AudioError(f"{path}: decoding failed ({exc}); the file may be corrupt or truncated") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise AudioError(f"{path}: the audio stream holds no samples")
    if samples.size > limit:
        raise _too_long(path, samples.size / SAMPLE_RATE, max_seconds)
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: the audio holds NaN or infinite samples")
    return samples
