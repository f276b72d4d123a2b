"""Frames + the original audio file -> an H.264/AAC mp4, written while the frames are produced.

:class:`VideoWriter` encodes each frame as soon as it arrives (nothing is kept but the last
frame), and interleaves the audio track with it: the ORIGINAL audio file, in any format FFmpeg
decodes, re-encoded to AAC. Both tracks start at t = 0, so frame k is shown at k / fps next to
the unshifted audio, which is the official alignment (the 1280-sample lead padding of the motion
generator makes frame k depict the audio around (k - 2) / 25 s; spec §2.1).

Duration: the audio's. The writer takes ``ceil(duration * fps)`` frames, where the duration is
that of the 16 kHz decoding the motion generator sees (:func:`model.audio.decode.load_audio`),
so the video ends within one frame after the audio; the motion sequence has about 3 frames more
(``floor((N + 1920) / 640)``) and those are dropped. :attr:`VideoWriter.frames_needed` tells a
renderer when it can stop.

The file appears at its destination only when complete: everything goes to a hidden temporary
file in the destination folder, which :func:`os.replace` moves into place after the last write;
on any error (or when no frame was written) the temporary file is deleted and nothing appears.
This also avoids the official muxing defects (spec §5.4): no re-encode at 2 Mb/s, non-wav audio
works, and a failed write cannot be reported as a success.

Colour: frames are converted to BT.709 limited-range yuv420p and the stream is tagged so, which
is how browsers and players interpret untagged HD video anyway.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
import torch
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc, VideoReformatter

from model.audio.decode import DEFAULT_MAX_SECONDS, SAMPLE_RATE, load_audio
from model.segments import Segment, SegmentMuxer
from model.validation import Range, check_number

log = logging.getLogger(__name__)

X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)
#: How far the audio is encoded ahead of the video, in seconds (above the AAC encoder's delay).
AUDIO_LEAD_SECONDS = 0.5
#: Sample rates the AAC encoder accepts; other input rates go to the next one up.
_AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)


#: libx264's constant rate factors: 0 (lossless) to 51.
CRF_RANGE = Range(0, 51)


class VideoError(RuntimeError):
    """The video could not be written: unwritable destination, no frames, or an encoding failure."""


@dataclass(frozen=True)
class VideoOptions:
    """How the mp4 is encoded.

    fps: frames per second of the video (the motion generator's rate, 25 officially).
    crf: libx264 constant rate factor, 0 (lossless) to 51; 18, the official temporary video's, is
    visually lossless.
    preset: libx264 speed/size trade-off. ``veryfast`` by default: on a 2-core CPU it encodes
    512x512 at about 200 frames/s and 1280x720 at about 38, so encoding never limits a GPU
    render much, and at a fixed CRF slower presets mainly save file size, not quality.
    audio_bitrate: AAC bit rate in bit/s.
    max_audio_seconds: longest accepted audio, as for the pipeline's input.
    segment_seconds: a key frame starts every segment of this length (a closed GOP), so the video can be
    streamed segment by segment; the complete mp4 is encoded the same way whether or not it is streamed.
    """

    fps: int = 25
    crf: int = 18
    preset: str = "veryfast"
    audio_bitrate: int = 128_000
    max_audio_seconds: float = DEFAULT_MAX_SECONDS
    segment_seconds: float = 1.0

    @property
    def frames_per_segment(self) -> int:
        return max(1, round(self.segment_seconds * self.fps))

    def __post_init__(self) -> None:
        if not isinstance(self.fps, int) or self.fps < 1:
            raise ValueError(f"fps must be a positive int, got {self.fps!r}")
        check_number("video quality (CRF)", self.crf, CRF_RANGE, integer=True)
        check_number("maximum audio length", self.max_audio_seconds, Range(0.1, 24 * 3600))
        if self.preset not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {self.preset!r}; choose one of {X264_PRESETS}")
        check_number("segment length in seconds", self.segment_seconds, Range(0.2, 10.0))
        if self.audio_bitrate < 8000:
            raise ValueError(f"audio_bitrate is in bit/s and must be at least 8000, got {self.audio_bitrate!r}")


def frames_for_audio(n_audio_samples: int, fps: int) -> int:
    """Video frames that cover ``n_audio_samples`` at 16 kHz: ceil(seconds * fps), in integers (no float rounding
    at exact frame boundaries)."""
    return -(-n_audio_samples * fps // SAMPLE_RATE)


def _aac_rate(rate: int) -> int:
    """The input rate when AAC supports it, else the next supported rate up (no information lost)."""
    return next((r for r in _AAC_RATES if r >= rate), _AAC_RATES[-1])


def _host_batch(frames: np.ndarray | torch.Tensor, limit: int) -> tuple[np.ndarray, int]:
    """The first ``limit`` frames of (H, W, 3) or (B, H, W, 3) uint8 RGB, numpy or torch on any
    device, as a (b, H, W, 3) numpy array; also returns how many frames were given."""
    if not isinstance(frames, np.ndarray | torch.Tensor):
        raise TypeError(f"frames must be a numpy array or a torch tensor, got {type(frames).__name__}")
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (H, W, 3) or (B, H, W, 3), got {tuple(frames.shape)}")
    if frames.dtype not in (np.uint8, torch.uint8):
        raise TypeError(f"frames must be uint8 RGB, got dtype {frames.dtype}")
    given = frames.shape[0]
    if isinstance(frames, torch.Tensor):
        frames = frames[:limit].detach().to("cpu").numpy()  # one transfer per batch, of the kept frames only
    return frames[:limit], given


def _even(batch: np.ndarray) -> np.ndarray:
    """Pad (B, H, W, 3) to even H and W by repeating the last row/column (yuv420p needs even sizes).

    Padding rather than cropping keeps every source pixel; the official pipeline already renders
    even sizes (``source_division`` 2), where this does nothing.
    """
    pad_h, pad_w = batch.shape[1] % 2, batch.shape[2] % 2
    if not (pad_h or pad_w):
        return batch
    return np.pad(batch, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _create_temp(out_path: Path) -> Path:
    """A new, empty hidden file next to ``out_path`` (same filesystem, so the final rename is atomic)."""
    folder = out_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{out_path.stem}.{secrets.token_hex(4)}.part.mp4"
        # O_EXCL: never clobber; mode 0o666 lets the umask give the file its usual permissions.
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        reason = exc.strerror or exc
        raise VideoError(f"cannot write the video into {folder}: {reason}; choose a writable folder") from exc
    return temp


class _AudioTrack:
    """The audio file decoded frame by frame, resampled, and encoded to AAC with pts from 0.

    Timestamps are rewritten as a running sample count, so the first decoded sample plays at
    t = 0 whatever start offset the input container declares: the same convention as
    :func:`load_audio`, whose samples the motion (and hence the frames) follows.
    """

    def __init__(self, audio_path: Path, output: av.container.OutputContainer, bitrate: int) -> None:
        self._input = av.open(str(audio_path))
        try:
            source = self._input.streams.audio[0]
            self.rate = _aac_rate(source.rate)
            layout = "mono" if source.channels == 1 else "stereo"  # more channels are downmixed to stereo
            self._stream = output.add_stream("aac", rate=self.rate, layout=layout)
            self._stream.bit_rate = bitrate
            self._output = output
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=self.rate)
            self._frames = self._resampled(source, resampler)
        except BaseException:
            self._input.close()
            raise
        self.samples_written = 0

    def _resampled(self, source: av.audio.stream.AudioStream, resampler: av.AudioResampler) -> Iterator[av.AudioFrame]:
        for frame in self._input.decode(source):
            frame.pts = None  # re-stamped in pump(); see the class docstring
            yield from resampler.resample(frame)
        yield from resampler.resample(None)

    @property
    def stream(self) -> av.audio.stream.AudioStream:
        return self._stream

    def pump(self, until_seconds: float) -> list[av.Packet]:
        """Encode audio until ``until_seconds`` is covered (all of it for ``math.inf``); the packets."""
        until = until_seconds * self.rate
        packets: list[av.Packet] = []
        while self.samples_written < until:
            frame = next(self._frames, None)
            if frame is None:
                break
            frame.pts, frame.time_base = self.samples_written, Fraction(1, self.rate)
            self.samples_written += frame.samples
            packets += self._stream.encode(frame)
        return packets

    def finish(self) -> list[av.Packet]:
        """Encode the rest of the file and flush the encoder; the packets."""
        return self.pump(math.inf) + list(self._stream.encode(None))

    def close(self) -> None:
        self._input.close()


class VideoWriter:
    """Context manager writing an mp4 (H.264 yuv420p + AAC) from frames as they are produced.

    >>> with VideoWriter("out.mp4", "speech.m4a") as writer:
    ...     for batch in renderer:            # (B, H, W, 3) uint8 RGB, numpy or torch
    ...         writer.write(batch)
    ...         if writer.complete:
    ...             break

    The audio is decoded once at construction (for its duration, and to fail early on a bad
    file) and the destination is checked for writability then, before any frame is rendered.
    Frames beyond :attr:`frames_needed` are ignored (counted in :attr:`frames_dropped`). If
    fewer arrive, :meth:`close` repeats the last one to the end of the audio, with a warning.

    With ``segment_dir``, the same packets also go into self-contained segments there (see
    :mod:`model.segments`); :meth:`take_segments` hands over those finished since the last call.
    """

    def __init__(
        self,
        out_path: str | Path,
        audio_path: str | Path,
        options: VideoOptions | None = None,
        n_audio_samples: int | None = None,
        segment_dir: str | Path | None = None,
    ) -> None:
        """``n_audio_samples``: the audio's length at 16 kHz when the caller has already decoded it
        (decoded here otherwise); ``segment_dir``: where to write streaming segments (None: none)."""
        self.options = VideoOptions() if options is None else options
        self.out_path = Path(out_path)
        fps = self.options.fps
        n_audio = n_audio_samples
        if n_audio is None:
            n_audio = load_audio(audio_path, max_seconds=self.options.max_audio_seconds).size
        #: Audio duration in seconds (16 kHz decoding, as the motion generator sees it).
        self.audio_seconds = n_audio / SAMPLE_RATE
        self.frames_needed = frames_for_audio(n_audio, fps)
        self.frames_written = 0
        self.frames_dropped = 0
        self.size: tuple[int, int] | None = None  # (height, width) as given, before even padding
        #: True once the finished file is in place.
        self.out_path_written = False
        self._last: av.VideoFrame | None = None  # kept to repeat it if frames run short
        self._closed = False
        self._reformatter = VideoReformatter()
        self._temp = _create_temp(self.out_path)
        self._audio: _AudioTrack | None = None
        self._segment_dir = None if segment_dir is None else Path(segment_dir)
        self._segments: SegmentMuxer | None = None
        self._finished_segments: list[Segment] = []
        keyint = self.options.frames_per_segment
        try:
            self._output = av.open(str(self._temp), "w", format="mp4", options={"movflags": "+faststart"})
            self._video = self._output.add_stream(
                "libx264", rate=fps, options={
                    "crf": str(self.options.crf), "preset": self.options.preset,
                    # A closed GOP of exactly one segment: every segment starts with its own key frame.
                    "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0",
                },
            )
            self._video.pix_fmt = "yuv420p"
            codec = self._video.codec_context
            codec.colorspace, codec.color_range = Colorspace.ITU709, ColorRange.MPEG
            codec.color_primaries, codec.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
            self._audio = _AudioTrack(Path(audio_path), self._output, self.options.audio_bitrate)
        except BaseException:
            self.abort()
            raise

    @property
    def complete(self) -> bool:
        """True once every frame the audio needs has been written; further frames are dropped."""
        return self.frames_written >= self.frames_needed

    def write(self, frames: np.ndarray | torch.Tensor) -> int:
        """Encode one frame (H, W, 3) or a batch (B, H, W, 3) of uint8 RGB; returns how many were kept.

        Every frame must have the size of the first. Frames past the end of the audio are dropped.
        """
        if self._closed:
            raise VideoError("the writer is closed")
        kept, given = _host_batch(frames, self.frames_needed - self.frames_written)
        self.frames_dropped += given - kept.shape[0]
        if kept.shape[0] == 0:
            return 0
        self._check_size(kept.shape[1:3])
        try:
            for rgb in _even(kept):
                self._encode(av.VideoFrame.from_ndarray(rgb, format="rgb24"))
        except BaseException:
            self.abort()
            raise
        return kept.shape[0]

    def _check_size(self, size: tuple[int, int]) -> None:
        if self.size is None:
            self.size = (int(size[0]), int(size[1]))
            self._video.height, self._video.width = self.size[0] + self.size[0] % 2, self.size[1] + self.size[1] % 2
        elif tuple(size) != self.size:
            raise ValueError(f"frame size {tuple(size)} differs from the first frame's {self.size}")

    def _encode(self, rgb_frame: av.VideoFrame) -> None:
        frame = self._reformatter.reformat(
            rgb_frame, format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
        )
        frame.pts = self.frames_written
        self._mux_video(self._video.encode(frame))
        self.frames_written += 1
        self._last = frame
        # Keep the audio a little ahead of the video: the muxer interleaves them without buffering, and a
        # segment's audio is encoded by the time its last frame is.
        self._mux_audio(self._audio.pump(self.frames_written / self.options.fps + AUDIO_LEAD_SECONDS))

    def _segment_muxer(self) -> SegmentMuxer | None:
        if self._segments is None and self._segment_dir is not None:
            self._segments = SegmentMuxer(self._segment_dir, self.options.frames_per_segment, self.options.fps,
                                          self._video, self._audio.stream, self._audio.rate)
        return self._segments

    def _mux_video(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            # Copied before the mp4 muxer rescales its timestamps; the segments are set up after the mp4's
            # header is written, when its streams hold the codec parameters (H.264's SPS/PPS) they copy.
            data, pts, dts, keyframe = bytes(packet), packet.pts, packet.dts, packet.is_keyframe
            self._output.mux(packet)
            if (segments := self._segment_muxer()) is not None:
                segments.video(data, pts, dts, keyframe)

    def _mux_audio(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            data, pts, dts = bytes(packet), packet.pts, packet.dts
            self._output.mux(packet)
            if (segments := self._segment_muxer()) is not None:
                segments.audio(data, pts, dts)

    def take_segments(self) -> list[Segment]:
        """Segments finished since the last call, in order (always empty without ``segment_dir``)."""
        done = self._finished_segments
        self._finished_segments = []
        if self._segments is not None and not self._closed:
            done += self._segments.finished()
        return done

    def close(self) -> Path:
        """Finish both tracks, close the file and move it into place; returns the output path.

        Raises :class:`VideoError` (and leaves no file) when no frame was written.
        """
        if self._closed:
            if not self.out_path_written:
                raise VideoError("the writer was aborted; no video was written")
            return self.out_path
        try:
            if self._last is None:
                raise VideoError("no frames were written; the video was not created")
            missing = self.frames_needed - self.frames_written
            if missing > 0:
                log.warning("%d frame(s) short of the audio's end; repeating the last frame", missing)
                for _ in range(missing):
                    self._encode(self._last)
            self._mux_video(self._video.encode(None))
            self._mux_audio(self._audio.finish())
            self._output.close()
            self._audio.close()
            if self._segments is not None:
                self._finished_segments += self._segments.finished(total_frames=self.frames_written)
            os.replace(self._temp, self.out_path)
        except BaseException:
            self.abort()
            raise
        self._closed = self.out_path_written = True
        return self.out_path

    def abort(self) -> None:
        """Stop and delete the temporary file and any segment; nothing is written to the destination."""
        self._closed = True
        if getattr(self, "_segments", None) is not None:
            self._segments.abort()
        for closing in (getattr(self, "_output", None), self._audio):
            if closing is not None:
                try:
                    closing.close()
                except (av.FFmpegError, OSError, ValueError):
                    pass  # the file is being discarded; its trailer does not matter
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(
    frames: Iterable[np.ndarray | torch.Tensor],
    audio_path: str | Path,
    out_path: str | Path,
    options: VideoOptions | None = None,
) -> Path:
    """Write an mp4 from an iterable of frames or batches (see :class:`VideoWriter`); stops
    consuming the iterable once the audio is covered. Returns the output path."""
    with VideoWriter(out_path, audio_path, options) as writer:
        for batch in frames:
            writer.write(batch)
            if writer.complete:
                break
    return writer.out_path
