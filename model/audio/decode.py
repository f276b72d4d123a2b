"""Audio files to 16 kHz mono float32 with PyAV (FFmpeg): wav, mp3, m4a/aac, ogg/vorbis, opus, flac, ...

Channels are averaged, as librosa's mono conversion in the official wrapper does (FFmpeg's own
downmix would weight them by 1/sqrt(2) instead); averaging commutes with resampling, so every
channel is resampled first and the mean taken after. Video files work too (first audio track).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from model.media import open_media

log = logging.getLogger(__name__)

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


def _too_long(name: str, seconds: float, max_seconds: float) -> AudioError:
    return AudioError(
        f"{name}: the audio is {seconds:.1f} s long, above the limit of {max_seconds:g} s; "
        "cut it into shorter parts or raise the limit (max_seconds)"
    )


def _open(path: Path) -> av.container.InputContainer:
    return open_media(path, AudioError, "an audio file", _FORMATS_HINT)


def load_audio(path: str | Path, max_seconds: float = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Decode the first audio stream of the local file ``path`` to (N,) float32 samples at 16 kHz, mono.

    Raises :class:`AudioError` (naming the file, never its folder) when the file is missing, empty, not a
    media file of an allowed container, has no audio stream, decodes to zero samples, contains non-finite
    samples, or is longer than ``max_seconds`` (checked from the header before decoding, then while
    decoding). Silence is valid input.
    """
    path = Path(path)
    name = path.name
    with _open(path) as container:
        if not container.streams.audio:
            raise AudioError(f"{name}: the file has no audio stream; give an audio file ({_FORMATS_HINT})")
        stream = container.streams.audio[0]
        if not stream.codec_context.channels or not stream.codec_context.sample_rate:
            raise AudioError(f"{name}: the audio header is invalid (no channels or no sample rate)")
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds:
            raise _too_long(name, declared, max_seconds)
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
                    raise _too_long(name, n_samples / SAMPLE_RATE, max_seconds)
            chunks.extend(out.to_ndarray().mean(axis=0, dtype=np.float32) for out in resampler.resample(None))
        except (av.FFmpegError, ValueError) as exc:
            if isinstance(exc, AudioError):
                raise
            log.info("decoding %s failed: %s", name, exc)
            raise AudioError(f"{name}: decoding failed; the file may be damaged or truncated") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise AudioError(f"{name}: the audio stream holds no samples")
    if samples.size > limit:
        raise _too_long(name, samples.size / SAMPLE_RATE, max_seconds)
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{name}: the audio holds NaN or infinite samples")
    return samples


@dataclass(frozen=True, eq=False)
class Speech:
    """An input recording decoded once: ``path``, the local file (muxed into the video as it is), and
    ``samples``, (N,) float32 at 16 kHz mono."""

    path: Path
    samples: np.ndarray

    @classmethod
    def read(cls, source: str | Path | Speech, max_seconds: float = DEFAULT_MAX_SECONDS) -> Speech:
        """Decode a path (a :class:`Speech` is returned as it is)."""
        if isinstance(source, Speech):
            return source
        return cls(Path(source), load_audio(source, max_seconds))
