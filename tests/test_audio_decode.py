"""Audio decoding to 16 kHz mono: every supported format, channel count and rate; clear errors."""

from __future__ import annotations

import wave

import av
import numpy as np
import pytest

from model.audio import decode
from model.audio.decode import SAMPLE_RATE, AudioError, load_audio
from tests.audio_fixtures import FORMATS, SECONDS, TONE_HZ, tone, write_audio

LOSSLESS = ("wav", "flac")
CASES = [
    (ext, rate, channels)
    for ext in FORMATS
    for rate in (8000, 44100, 48000)
    for channels in (1, 2)
    if not (ext == "opus" and rate == 44100) and not (ext == "ogg" and channels == 1)
]


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE)[np.argmax(spectrum)])


@pytest.mark.parametrize(("ext", "rate", "channels"), CASES)
def test_formats_decode_to_16k_mono(tmp_path, ext, rate, channels):
    samples = load_audio(write_audio(tmp_path / f"tone.{ext}", tone(rate, channels), rate))
    assert samples.dtype == np.float32 and samples.ndim == 1
    expected = round(SECONDS * SAMPLE_RATE)
    # Lossy codecs add encoder priming / final-frame padding (AAC: up to ~1024 source samples each).
    tolerance = 2 if ext in LOSSLESS else 0.1 * SAMPLE_RATE
    assert abs(samples.size - expected) <= tolerance, samples.size
    middle = samples[2000:14000]
    assert abs(dominant_hz(middle) - TONE_HZ) <= 2.0
    # Channels are averaged (librosa's mono): the tone on one of two channels comes out at half amplitude.
    rms = float(np.sqrt(np.mean(middle**2)))
    expected_rms = 0.5 / np.sqrt(2) / channels
    assert rms == pytest.approx(expected_rms, rel=0.01 if ext in LOSSLESS else 0.15)


def test_lossless_content_matches_the_source(tmp_path):
    rate = 48000
    samples = load_audio(write_audio(tmp_path / "tone.flac", tone(rate, 1), rate))
    t = np.arange(samples.size) / SAMPLE_RATE
    reference = 0.5 * np.sin(2 * np.pi * TONE_HZ * t)
    assert np.abs(samples[100:-100] - reference[100:-100]).max() < 1e-3


def test_silence_is_valid(tmp_path):
    samples = load_audio(write_audio(tmp_path / "silence.wav", np.zeros((2, 8000), np.float32), 8000))
    assert samples.shape == (SAMPLE_RATE,) and not samples.any()


def test_missing_file_or_folder(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="not a file"):
        load_audio(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        load_audio(tmp_path / "empty.wav")


def test_text_file(tmp_path):
    (tmp_path / "notes.mp3").write_text("this is not audio\n" * 50)
    with pytest.raises(AudioError, match=r"notes\.mp3: not an audio file this app reads"):
        load_audio(tmp_path / "notes.mp3")


def test_an_image_is_not_audio(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    path = tmp_path / "face.png"
    pil.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(path)
    with pytest.raises(AudioError, match="not an audio file"):
        load_audio(path)


def test_a_video_without_sound_has_no_audio_stream(tmp_path):
    path = tmp_path / "silent_film.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode(None))
    with pytest.raises(AudioError, match="no audio stream"):
        load_audio(path)


@pytest.mark.parametrize(
    "text",
    ["#EXTM3U\n#EXTINF:10,\nhttp://example.com/a.mp3\n", "ffconcat version 1.0\nfile /etc/passwd\n",
     "[playlist]\nFile1=http://example.com/a.mp3\n"],
)
def test_playlists_and_other_indirections_are_never_opened(tmp_path, text, monkeypatch):
    path = tmp_path / "speech.m3u8"
    path.write_text(text)
    opened = []
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(a))
    with pytest.raises(AudioError, match="not an audio file this app reads"):
        load_audio(path)
    assert opened == []  # refused before FFmpeg sees it


def test_a_wav_header_without_channels_gets_a_clear_message(tmp_path):
    path = write_audio(tmp_path / "tone.wav", tone(16000, 1), 16000)
    data = bytearray(path.read_bytes())
    data[22:24] = (0).to_bytes(2, "little")  # NumChannels = 0
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError) as info:
        load_audio(path)
    message = str(info.value)
    assert message.startswith("tone.wav: ") and str(tmp_path) not in message
    assert "damaged" in message or "invalid" in message


def test_zero_samples(tmp_path):
    path = tmp_path / "nothing.wav"
    with wave.open(str(path), "wb") as header_only:  # a valid RIFF header with an empty data chunk
        header_only.setnchannels(1)
        header_only.setsampwidth(2)
        header_only.setframerate(16000)
    with pytest.raises(AudioError, match="no samples"):
        load_audio(path)


def test_too_long_from_header(tmp_path):
    path = write_audio(tmp_path / "tone.wav", tone(16000, 1), 16000)
    with pytest.raises(AudioError, match="above the limit"):
        load_audio(path, max_seconds=0.5)


def test_too_long_while_decoding(tmp_path, monkeypatch):
    """Containers without a duration in their header are stopped while decoding."""
    path = write_audio(tmp_path / "tone.mp3", tone(16000, 1), 16000)
    monkeypatch.setattr(decode, "_declared_seconds", lambda container, stream: None)
    with pytest.raises(AudioError, match="above the limit"):
        load_audio(path, max_seconds=0.5)
    assert load_audio(path, max_seconds=2.0).size > 0
