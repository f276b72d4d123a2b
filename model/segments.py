"""Cutting the encoded video into self-contained segments while it is written (for streaming).

The video encoder places a key frame at the start of every segment (a closed GOP of exactly
``frames_per_segment`` frames), so each segment decodes on its own. Every packet the encoders make goes into
the complete mp4 and, unchanged, into the segment its timestamp falls in: a fragmented mp4 with H.264 and the
matching slice of the AAC audio. Nothing is encoded twice, and the segments of a run hold exactly the frames of
its mp4. Timestamps stay on the whole video's clock (segment k starts at k x its duration).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

log = logging.getLogger(__name__)

#: Each segment is a fragmented mp4 (one moof per key frame): playable alone, and appendable by HLS players.
SEGMENT_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


@dataclass(frozen=True)
class Segment:
    """One finished segment: ``path`` (a fragmented mp4 with H.264 video and AAC audio), the frames it holds
    ``[first_frame, first_frame + n_frames)`` at ``fps``, and so its span of the video and the audio in
    seconds, ``[start, end)``."""

    index: int
    path: Path
    first_frame: int
    n_frames: int
    fps: int

    @property
    def start(self) -> float:
        return self.first_frame / self.fps

    @property
    def end(self) -> float:
        return (self.first_frame + self.n_frames) / self.fps


@dataclass
class _Open:
    container: av.container.OutputContainer
    video: av.video.stream.VideoStream
    audio: av.audio.stream.AudioStream | None
    video_packets: int = 0


class SegmentMuxer:
    """Routes copies of the encoded packets into one fragmented mp4 per segment, in ``folder``.

    ``video_template`` / ``audio_template``: the complete mp4's streams, whose codec parameters the segments
    copy. Video timestamps are in frames (``1 / fps``), audio timestamps in samples (``1 / audio_rate``).
    """

    def __init__(
        self, folder: Path, frames_per_segment: int, fps: int, video_template: av.video.stream.VideoStream,
        audio_template: av.audio.stream.AudioStream | None, audio_rate: int,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.frames_per_segment, self.fps, self.audio_rate = frames_per_segment, fps, audio_rate
        self._templates = (video_template, audio_template)
        self._open: dict[int, _Open] = {}
        self._next = 0  # the first segment not yet finished
        self._paths: list[Path] = []

    def _segment(self, index: int) -> _Open:
        if index not in self._open:
            if index < self._next:
                raise RuntimeError(f"a packet for segment {index} arrived after it was finished")
            path = self.folder / f"segment_{index:05d}.mp4"
            container = av.open(str(path), "w", format="mp4", options=SEGMENT_OPTIONS)
            video_template, audio_template = self._templates
            video = container.add_stream_from_template(video_template)
            audio = container.add_stream_from_template(audio_template) if audio_template is not None else None
            self._open[index] = _Open(container, video, audio)
            self._paths.append(path)
        return self._open[index]

    @staticmethod
    def _copy(data: bytes, pts: int | None, dts: int | None, time_base: Fraction, keyframe: bool) -> av.Packet:
        packet = av.Packet(data)
        packet.pts, packet.dts, packet.time_base = pts, dts, time_base
        packet.is_keyframe = keyframe
        return packet

    def video(self, data: bytes, pts: int, dts: int | None, keyframe: bool) -> None:
        """A video packet of frame ``pts``."""
        segment = self._segment(pts // self.frames_per_segment)
        packet = self._copy(data, pts, dts, Fraction(1, self.fps), keyframe)
        packet.stream = segment.video
        segment.container.mux(packet)
        segment.video_packets += 1

    def audio(self, data: bytes, pts: int, dts: int | None) -> None:
        """An audio packet starting at sample ``pts`` (before the first segment: into the first)."""
        index = max(0, math.floor(pts * self.fps / (self.audio_rate * self.frames_per_segment)))
        if index < self._next:  # encoder delay can put a packet's stamp a hair before its segment's start
            index = self._next
        segment = self._segment(index)
        if segment.audio is None:
            return
        packet = self._copy(data, pts, dts, Fraction(1, self.audio_rate), True)
        packet.stream = segment.audio
        segment.container.mux(packet)

    def finished(self, total_frames: int | None = None) -> list[Segment]:
        """Close and return, in order, every segment whose frames have all arrived; ``total_frames`` (at the end
        of the video) makes the last, shorter segment count as complete."""
        done = []
        while self._next in self._open:
            first = self._next * self.frames_per_segment
            expected = self.frames_per_segment
            if total_frames is not None:
                expected = min(expected, total_frames - first)
            segment = self._open[self._next]
            if segment.video_packets < expected:
                break
            segment.container.close()
            del self._open[self._next]
            done.append(Segment(self._next, self._paths[self._next], first, segment.video_packets, self.fps))
            self._next += 1
        return done

    def abort(self) -> None:
        """Close everything and delete every segment file this muxer made."""
        for segment in self._open.values():
            try:
                segment.container.close()
            except (av.FFmpegError, OSError, ValueError):
                pass
        self._open.clear()
        for path in self._paths:
            path.unlink(missing_ok=True)
