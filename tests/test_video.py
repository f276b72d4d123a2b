"""mp4 writing: streams, formats, duration and alignment, colour, atomic output, bounded memory."""

from __future__ import annotations

import logging
import math
import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from model.audio.decode import SAMPLE_RATE, AudioError, load_audio
from model.video import VideoError, VideoOptions, VideoWriter, write_video
from tests.audio_fixtures import tone, write_audio

FPS = 25
FAST = VideoOptions(preset="ultrafast")  # the tests check structure, not compression
H, W = 64, 96
SECONDS = 2.37  # not a whole number of frames: 59.25 -> 60 frames


def gradient(k: int, h: int = H, w: int = W) -> np.ndarray:
    """Frame k of a moving colour gradient, (h, w, 3) uint8."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([(2 * xx + 5 * k) % 256, (3 * yy + k) % 256, np.full_like(xx, 128)], -1).astype(np.uint8)


def frames(n: int, h: int = H, w: int = W):
    for k in range(n):
        yield gradient(k, h, w)


def audio(tmp_path: Path, ext: str = "wav", rate: int = 16000, channels: int = 1, seconds: float = SECONDS) -> Path:
    folder = tmp_path / "audio"
    folder.mkdir(exist_ok=True)
    return write_audio(folder / f"speech_{rate}_{channels}.{ext}", tone(rate, channels, seconds), rate)


def expected_frames(audio_path: Path) -> int:
    return math.ceil(load_audio(audio_path).size * FPS / SAMPLE_RATE)


def decoded_video(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("ext", "rate", "channels"),
    [
        ("wav", 16000, 1),
        ("wav", 44100, 2),
        ("mp3", 44100, 2),
        ("m4a", 48000, 1),
        ("opus", 48000, 2),
        ("ogg", 48000, 2),
        ("flac", 8000, 1),
    ],
)
def test_streams_and_duration_for_every_audio_format(tmp_path, ext, rate, channels):
    source = audio(tmp_path, ext, rate, channels)
    out = tmp_path / "out" / "video.mp4"  # the folder is created
    with VideoWriter(out, source, FAST) as writer:
        for frame in frames(80):
            writer.write(frame)
    needed = expected_frames(source)
    assert writer.frames_needed == needed
    assert (writer.frames_written, writer.frames_dropped) == (needed, 80 - needed)
    seconds = load_audio(source).size / SAMPLE_RATE
    with av.open(str(out)) as container:
        assert len(container.streams) == 2
        (video,), (sound,) = container.streams.video, container.streams.audio
        assert video.codec_context.name == "h264" and sound.codec_context.name == "aac"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert (video.codec_context.height, video.codec_context.width) == (H, W)
        assert video.average_rate == FPS
        assert sound.rate == rate and sound.codec_context.layout.nb_channels == channels
        assert video.start_time == 0 and sound.start_time == 0  # both tracks start together
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(sound.duration * sound.time_base)
        assert 0 <= video_seconds - seconds < 1 / FPS  # ends within one frame after the audio
        assert abs(audio_seconds - seconds) < 0.005  # the whole audio, priming trimmed
        assert abs(container.duration / av.time_base - seconds) < 1 / FPS
    assert len(decoded_video(out)) == needed
    assert entries(out.parent) == ["video.mp4"]  # no temporary file left


def top_level_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes.append(kind.decode())
        offset += size
    return boxes


def test_faststart_puts_the_index_before_the_media(tmp_path):
    """Browsers (Gradio) can start playing before the whole file has arrived."""
    out = write_video(frames(30), audio(tmp_path, seconds=1.0), tmp_path / "v.mp4", FAST)
    boxes = top_level_boxes(out)
    assert boxes[0] == "ftyp" and boxes.index("moov") < boxes.index("mdat")


def test_motion_length_is_trimmed_to_the_audio(tmp_path):
    """The motion generator's floor((N + 1920) / 640) frames: the extra ~3 are dropped."""
    source = audio(tmp_path, seconds=3.0)
    n = load_audio(source).size
    motion_frames = (n + 1920) // 640
    out = write_video(frames(motion_frames), source, tmp_path / "v.mp4", FAST)
    assert len(decoded_video(out)) == math.ceil(n / 640) == motion_frames - 3


def test_a_known_audio_length_skips_decoding_and_gives_the_same_frame_count(tmp_path, monkeypatch):
    source = audio(tmp_path, seconds=2.0)
    n = load_audio(source).size
    monkeypatch.setattr("model.video.load_audio", lambda *a, **k: pytest.fail("audio decoded again"))
    with VideoWriter(tmp_path / "v.mp4", source, FAST, n_audio_samples=n) as writer:
        assert writer.frames_needed == math.ceil(n / 640)
        writer.write(np.stack(list(frames(writer.frames_needed))))
    assert len(decoded_video(tmp_path / "v.mp4")) == math.ceil(n / 640)


def test_write_video_stops_consuming_once_complete(tmp_path):
    source = audio(tmp_path)
    consumed = []

    def produce():
        for k in range(1000):
            consumed.append(k)
            yield gradient(k)

    write_video(produce(), source, tmp_path / "v.mp4", FAST)
    assert len(consumed) == expected_frames(source)


def test_frame_k_plays_at_k_over_fps_next_to_the_unshifted_audio(tmp_path):
    """A click at 1.00 s of the input stays at 1.00 s in the mp4, and frame k is shown at k / 25 s."""
    rate = 44100
    signal = np.zeros((1, round(2.0 * rate)), dtype=np.float32)
    signal[0, rate : rate + 64] = 0.9
    source = write_audio(tmp_path / "click.m4a", signal, rate)  # AAC in and out: priming on both sides
    assert abs(np.argmax(load_audio(source) > 0.3) / SAMPLE_RATE - 1.0) < 0.001  # what the motion follows
    out = write_video((np.full((H, W, 3), 4 * k, np.uint8) for k in range(60)), source, tmp_path / "v.mp4", FAST)
    with av.open(str(out)) as container:
        shown = [(float(f.time), f.to_ndarray(format="rgb24").mean()) for f in container.decode(video=0)]
    n = expected_frames(source)  # 51: the AAC input decodes to 2.02 s (its last frame is padded)
    assert [t for t, _ in shown] == pytest.approx([k / FPS for k in range(n)])
    assert [round(level / 4) for _, level in shown] == list(range(n))
    with av.open(str(out)) as container:
        decoded = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    assert abs(np.argmax(np.abs(decoded) > 0.3) / rate - 1.0) < 0.001


def test_colours_survive_the_yuv_round_trip(tmp_path):
    colours = np.array([[230, 30, 30], [30, 200, 40], [20, 40, 220], [224, 172, 140], [250, 250, 250], [8, 8, 8]])
    frame = np.repeat(np.repeat(colours[None].astype(np.uint8), 32, axis=0), 32, axis=1)  # (32, 192, 3)
    out = write_video([frame] * 3, audio(tmp_path, seconds=0.1), tmp_path / "v.mp4", VideoOptions(crf=0))
    decoded = decoded_video(out)[0].astype(int)
    for i, colour in enumerate(colours):
        patch = decoded[8:24, 32 * i + 8 : 32 * i + 24]
        assert np.abs(patch - colour).max() <= 3, (colour, patch.mean(axis=(0, 1)))


def test_odd_sizes_are_padded_to_even(tmp_path):
    out = write_video(frames(10, 63, 95), audio(tmp_path, seconds=0.3), tmp_path / "v.mp4", VideoOptions(crf=0))
    first = decoded_video(out)[0].astype(int)
    assert first.shape == (64, 96, 3)
    assert np.abs(first[:62, :94] - gradient(0, 63, 95)[:62, :94]).mean() < 2
    assert np.abs(first[63] - first[62]).mean() < 3  # the last row is repeated


def test_torch_batches_give_the_same_video_as_single_numpy_frames(tmp_path):
    source = audio(tmp_path)
    batch = torch.from_numpy(np.stack(list(frames(80))))
    with VideoWriter(tmp_path / "torch.mp4", source, FAST) as writer:
        kept = [writer.write(batch[i : i + 16]) for i in range(0, 80, 16)]
    needed = expected_frames(source)
    assert sum(kept) == needed and writer.frames_dropped == 80 - needed
    numpy_out = write_video(frames(80), source, tmp_path / "numpy.mp4", FAST)
    for a, b in zip(decoded_video(tmp_path / "torch.mp4"), decoded_video(numpy_out), strict=True):
        np.testing.assert_array_equal(a, b)


def test_too_few_frames_repeat_the_last_one(tmp_path, caplog):
    source = audio(tmp_path)
    with caplog.at_level(logging.WARNING, logger="model.video"):
        out = write_video(frames(50), source, tmp_path / "v.mp4", FAST)
    assert "short of the audio" in caplog.text
    decoded = decoded_video(out)
    assert len(decoded) == expected_frames(source)
    assert all(np.abs(d.astype(int) - gradient(49)).mean() < 2 for d in decoded[49:])


def test_an_exception_mid_write_leaves_nothing(tmp_path):
    source = audio(tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "v.mp4").write_bytes(b"previous video")
    with pytest.raises(RuntimeError, match="renderer failed"), VideoWriter(folder / "v.mp4", source, FAST) as writer:
        for k, frame in enumerate(frames(80)):
            writer.write(frame)
            if k == 20:
                raise RuntimeError("renderer failed")
    assert entries(folder) == ["v.mp4"]  # no temporary file, and the previous file untouched
    assert (folder / "v.mp4").read_bytes() == b"previous video"
    assert not writer.out_path_written
    with pytest.raises(VideoError, match="aborted"):
        writer.close()


def test_closing_without_frames_is_an_error_and_leaves_nothing(tmp_path):
    folder = tmp_path / "out"
    with pytest.raises(VideoError, match="no frames"), VideoWriter(folder / "v.mp4", audio(tmp_path), FAST):
        pass
    assert entries(folder) == []


def test_unwritable_destination_fails_before_any_frame(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_bytes(b"")
    with pytest.raises(VideoError, match="cannot write the video"):
        VideoWriter(blocker / "v.mp4", audio(tmp_path), FAST)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user")
def test_read_only_folder_is_reported(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(VideoError, match="writable folder"):
        VideoWriter(folder / "v.mp4", audio(tmp_path), FAST)


def test_permission_denied_is_reported(tmp_path, monkeypatch):
    """The same path for any user (root ignores folder modes, so the test above may be skipped)."""

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("model.video.os.open", denied)
    with pytest.raises(VideoError, match="Permission denied; choose a writable folder"):
        VideoWriter(tmp_path / "v.mp4", audio(tmp_path), FAST)


def test_bad_audio_fails_early_and_leaves_nothing(tmp_path):
    bad = tmp_path / "speech.wav"
    bad.write_bytes(b"not audio at all")
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(AudioError):
        VideoWriter(folder / "v.mp4", bad, FAST)
    assert entries(folder) == []


def test_invalid_frames_are_rejected(tmp_path):
    with VideoWriter(tmp_path / "v.mp4", audio(tmp_path), FAST) as writer:
        with pytest.raises(TypeError, match="uint8"):
            writer.write(np.zeros((H, W, 3), np.float32))
        with pytest.raises(ValueError, match="shape"):
            writer.write(np.zeros((H, W), np.uint8))
        writer.write(gradient(0))
        with pytest.raises(ValueError, match="differs from the first"):
            writer.write(np.zeros((H + 2, W, 3), np.uint8))
        writer.write(gradient(1))
    assert len(decoded_video(tmp_path / "v.mp4")) == writer.frames_needed


def test_options_are_validated():
    with pytest.raises(ValueError, match="preset"):
        VideoOptions(preset="warp")
    with pytest.raises(ValueError, match="CRF"):
        VideoOptions(crf=60)
    with pytest.raises(ValueError, match="fps"):
        VideoOptions(fps=0)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident size from /proc")
def test_memory_does_not_grow_with_the_video_length(tmp_path):
    """600 frames of 256x256 are 118 MB of RGB; the writer's footprint must stay flat after warm-up."""
    source = audio(tmp_path, seconds=24.0)
    rss = {}

    def produce():
        for k in range(600):
            if k in (100, 599):
                rss[k] = _rss_bytes()
            yield gradient(k, 256, 256)

    write_video(produce(), source, tmp_path / "v.mp4", FAST)
    assert rss[599] - rss[100] < 20 * 2**20, (rss[599] - rss[100]) / 2**20


def test_audio_track_uses_a_supported_rate_and_downmixes_extra_channels(tmp_path):
    rate = 37800  # not an AAC rate: goes up to 44100
    path = tmp_path / "odd.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="5.1")
        signal = np.zeros((6, rate), np.float32)
        signal[0] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
        frame = av.AudioFrame.from_ndarray(signal, format="fltp", layout="5.1")
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out = write_video(frames(30), path, tmp_path / "v.mp4", FAST)
    with av.open(str(out)) as container:
        sound = container.streams.audio[0]
        assert sound.rate == 44100 and sound.codec_context.layout.name == "stereo"
        assert abs(float(sound.duration * sound.time_base) - 1.0) < 0.005
