"""Every bad input to the running app, table-driven: each gets a clear message, before any GPU work, and leaves
nothing behind. Also inputs that must work: 16-bit, CMYK, palette, alpha and EXIF-rotated images."""

from __future__ import annotations

import io
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.app_server import ASSETS, mp4_facts, running_app
from tests.audio_fixtures import tone, write_audio

PORTRAIT = ASSETS / "astronaut_photo.jpg"
SPEECH = ASSETS / "en_hello.wav"
#: What no message shown to a user may contain: tracebacks, exception class names, server paths, internals.
FORBIDDEN = re.compile(r"Traceback|[A-Z]\w*(Error|Exception)\b|/tmp/|/root/|gradio_client|\bav\.|PIL\.|BytesIO")


def _png_bomb(side: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    body = zlib.compress(bytes(1 + side) * 200, 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _make_files(root: Path) -> dict[str, Path]:
    """Bad (and odd) input files, by name."""
    files = {
        "empty.png": b"",
        "noise.png": bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)),
        "page.png": b"<!DOCTYPE html><html><body>not an image</body></html>",
        "bomb9000.png": _png_bomb(9000),
        "bomb50000.png": _png_bomb(50000),
        "empty.wav": b"",
        "page.mp3": b"<html><body>not audio</body></html>" * 20,
        "list.m3u8": b"#EXTM3U\n#EXTINF:4,\nhttp://example.com/a.mp3\n",
        "fake.npz": b"PK\x03\x04 not really a zip",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    tiny = io.BytesIO()
    Image.new("RGB", (16, 16)).save(tiny, "PNG")
    (root / "tiny.png").write_bytes(tiny.getvalue())
    wav = write_audio(root / "tone.wav", tone(16000, 1), 16000)
    (root / "tone_as_image.png").write_bytes(wav.read_bytes())
    broken = bytearray(wav.read_bytes())
    broken[22:24] = b"\0\0"  # a WAV header with 0 channels
    (root / "zero_channels.wav").write_bytes(bytes(broken))
    return {p.name: p for p in root.iterdir()}


#: (endpoint, arguments (file names or values), words the message must contain). Files not made above come
#: from assets/. NaN and infinity travel as text: JSON has no literal for them (the app reads both forms).
ANIMATE, COMPARE = "/animate", "/compare"
CASES: list[tuple[str, dict, str]] = [
    # images
    (ANIMATE, {"image": "empty.png"}, "the file is empty"),
    (ANIMATE, {"image": "noise.png"}, "not an image this app can read"),
    (ANIMATE, {"image": "page.png"}, "HTML page, not an image"),
    (ANIMATE, {"image": "tone_as_image.png"}, "WAV audio file, not an image"),
    (ANIMATE, {"image": "bomb9000.png"}, "megapixels"),
    (ANIMATE, {"image": "bomb50000.png"}, "megapixels"),
    (ANIMATE, {"image": "tiny.png"}, "at least 32 pixels"),
    (ANIMATE, {"image": "raccoon.jpg", "mode": "human"}, "No face found"),
    # audio
    (ANIMATE, {"audio": "empty.wav"}, "the file is empty"),
    (ANIMATE, {"audio": "page.mp3"}, "not an audio file this app reads"),
    (ANIMATE, {"audio": "list.m3u8"}, "not an audio file this app reads"),
    (ANIMATE, {"audio": "astronaut_photo.jpg"}, "not an audio file this app reads"),
    (ANIMATE, {"audio": "zero_channels.wav"}, "zero_channels.wav"),
    (ANIMATE, {"audio": "en_gettysburg_long.mp3"}, "above the limit of 30 s"),
    # numbers
    (ANIMATE, {"guidance_scale": "nan"}, "guidance scale must be a finite number from 0 to 10; got NaN"),
    (ANIMATE, {"guidance_scale": "inf"}, "got infinity"),
    (ANIMATE, {"guidance_scale": 11}, "guidance scale must be from 0 to 10; got 11"),
    (ANIMATE, {"seed": -1}, "seed must be from 0 to 2147483647"),
    (ANIMATE, {"seed": 1e30}, "seed must be from 0 to 2147483647"),
    (ANIMATE, {"seed": 2.5}, "seed must be a whole number"),
    (ANIMATE, {"driving_multiplier": 5}, "driving multiplier must be from 0 to 2"),
    (ANIMATE, {"driving_multiplier": "-inf"}, "minus infinity"),
    (ANIMATE, {"crop_scale": 0}, "crop scale must be from 1 to 4"),
    (ANIMATE, {"crop_x": "NaN"}, "horizontal crop offset must be a finite number"),
    (ANIMATE, {"crop_y": 3}, "vertical crop offset must be from -0.5 to 0.5"),
    (ANIMATE, {"crf": 99}, "CRF"),
    (ANIMATE, {"face_index": -1}, "face index must be"),
    (ANIMATE, {"face_index": 3}, "face 3 requested, but 1 face was found; choose 0"),
    (ANIMATE, {"face_index": 0.5}, "face index must be a whole number"),
    (ANIMATE, {"seed": "twelve"}, "seed must be a whole number from 0 to 2147483647; got 'twelve'"),
    (ANIMATE, {"smoothing": "maybe"}, "smoothing must be true or false"),
    (ANIMATE, {"lip_scale": 3}, "lip scale must be from 0 to 2"),
    (ANIMATE, {"pose_scale": "nan"}, "pose scale must be a finite number"),
    (ANIMATE, {"sync_offset_ms": 9999}, "sync offset in ms must be from -500 to 500"),
    (ANIMATE, {"blink_rate": 99}, "blink rate must be from 0 to 60"),
    (ANIMATE, {"eye_open": "nan"}, "eye open must be a finite number"),
    (ANIMATE, {"eye_open": "half"}, "eye open must be a number from 0 to 1; got 'half'"),
    (ANIMATE, {"gaze_y": -3}, "gaze y must be from -1 to 1"),
    (ANIMATE, {"mode": "animal", "blink_rate": 15}, "blinks, eye opening and gaze are for human faces"),
    (ANIMATE, {"motion_file": "page.mp3"}, "a motion file ends in .npz or .safetensors"),
    (ANIMATE, {"motion_file": "fake.npz"}, "not a readable motion file"),
    (ANIMATE, {"pose_from": "page.mp3"}, "not a video file this app reads"),
    (ANIMATE, {"pose_from": "en_hello.wav"}, "has no video stream"),
    (ANIMATE, {"pose_end": "bounce"}, "pose end must be one of 'hold', 'loop'"),
    # text and choices
    (ANIMATE, {"crop_mode": "manual box", "face_box": "1, 2"}, "x, y, w, h"),
    (ANIMATE, {"crop_mode": "manual box", "face_box": "a, b, c, d"}, "manual face box x must be a number"),
    (ANIMATE, {"crop_mode": "manual box", "face_box": "1, 2, nan, 40"}, "finite"),
    (ANIMATE, {"crop_mode": "manual box", "face_box": "5000, 5000, 100, 100"}, "lies mostly outside the 512x512"),
    (ANIMATE, {"crop_mode": "manual box", "face_box": "10, 10, 0, 50"}, "positive width and height"),
    (ANIMATE, {"mode": "robot"}, "mode must be one of 'human', 'animal'"),
    (ANIMATE, {"quality": "ultra"}, "quality preset must be one of"),
    (ANIMATE, {"region": "hair"}, "animation region must be one of"),
    (ANIMATE, {"crop_mode": "sideways"}, "crop mode must be one of"),
    # comparisons
    (COMPARE, {"seeds": "1e30"}, "seed"),
    (COMPARE, {"seeds": "abc"}, "must be a whole number"),
    (COMPARE, {"guidance_scales": "nan"}, "finite"),
    (COMPARE, {"guidance_scales": "1, 2, 3, 4, 5, 6, 7"}, "at most 6"),
    (COMPARE, {"images": ["noise.png"]}, "not an image this app can read"),
    (COMPARE, {"images": ["bomb50000.png"]}, "megapixels"),
    (COMPARE, {"audios": ["list.m3u8"]}, "not an audio file this app reads"),
    (COMPARE, {"images": []}, "at least one image"),
    (COMPARE, {"mode": "robot"}, "mode must be one of"),
    (COMPARE, {"control": "hair", "control_values": "1"}, "compared control must be one of"),
    (COMPARE, {"control": "lip_scale", "control_values": "0.5, 5"}, "lip_scale values must be from 0 to 2"),
    (COMPARE, {"control": "lip_scale", "control_values": ""}, "give the lip_scale values to compare"),
    (COMPARE, {"control": "blink_rate", "control_values": "10, 70"}, "blink_rate values must be from 0 to 60"),
]


@pytest.fixture(scope="module")
def app(small_weights, tmp_path_factory):
    root = tmp_path_factory.mktemp("app_inputs")
    files = _make_files(tmp_path_factory.mktemp("bad_files"))
    with running_app(root, small_weights) as url:
        yield Client(url, verbose=False, download_files=str(root / "downloads")), files, root / "outputs"


def _file(name: str, files: dict[str, Path]):
    return handle_file(str(files.get(name, ASSETS / name)))


def _call(client: Client, files: dict[str, Path], endpoint: str, args: dict):
    if endpoint == ANIMATE:
        kwargs = {"image": "astronaut_photo.jpg", "audio": "en_hello.wav", "quality": "fast", **args}
        image, audio = _file(kwargs.pop("image"), files), _file(kwargs.pop("audio"), files)
        for name in ("motion_file", "pose_from"):
            if name in kwargs:
                kwargs[name] = _file(kwargs[name], files)
        return client.predict(image, audio, api_name=ANIMATE, **kwargs)
    kwargs = {"images": ["astronaut_photo.jpg"], "audios": ["en_hello.wav"], "guidance_scales": "4", "seeds": "0",
              "quality": "fast", **args}
    images = [_file(n, files) for n in kwargs.pop("images")]
    audios = [_file(n, files) for n in kwargs.pop("audios")]
    return client.predict(images, audios, api_name=COMPARE, **kwargs)


@pytest.mark.parametrize(("endpoint", "args", "words"), CASES, ids=[f"{e}-{a}" for e, a, _ in CASES])
def test_every_bad_input_gets_a_clear_message_and_leaves_nothing(app, endpoint, args, words) -> None:
    client, files, outputs = app
    before = set(outputs.iterdir()) if outputs.is_dir() else set()
    start = time.perf_counter()
    with pytest.raises(AppError) as info:
        _call(client, files, endpoint, args)
    seconds = time.perf_counter() - start
    message = str(info.value)
    assert words in message, message
    assert not FORBIDDEN.search(message), message
    after = set(outputs.iterdir()) if outputs.is_dir() else set()
    assert after == before  # no run folder, no partial video or comparison cell
    assert seconds < 20  # answered up front (a generous bound for a busy CI machine), not after a render


def test_the_table_is_broad() -> None:
    """The closing note reports this count; keep the table growing with every new parameter."""
    assert len(CASES) >= 45


def _odd_images(root: Path) -> dict[str, Path]:
    portrait = Image.open(PORTRAIT).convert("RGB")
    gray16 = np.asarray(portrait.convert("L"), np.uint16) * 257
    made = {}
    made["gray16.png"] = Image.fromarray(gray16)
    made["cmyk.jpg"] = portrait.convert("CMYK")
    made["palette.png"] = portrait.convert("P", palette=Image.Palette.ADAPTIVE)
    rgba = portrait.convert("RGBA")
    rgba.putalpha(128)
    made["alpha.png"] = rgba
    paths = {}
    for name, picture in made.items():
        paths[name] = root / name
        picture.save(paths[name])
    rotated = root / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated 90 degrees: the viewer turns it back upright
    portrait.rotate(-90, expand=True).save(rotated, exif=exif, quality=95)
    paths["rotated.jpg"] = rotated
    return paths


def test_16_bit_cmyk_palette_alpha_and_exif_rotated_images_work_on_every_endpoint(app, tmp_path) -> None:
    client, _, _ = app
    odd = _odd_images(tmp_path)
    video, _info = client.predict(handle_file(str(odd["gray16.png"])), handle_file(str(SPEECH)), quality="fast",
                                 api_name=ANIMATE)
    kinds, _, size = mp4_facts(video)
    assert kinds == {"video": "h264", "audio": "aac"} and size == (512, 512)
    from model.face.image import load_image

    first = _first_frame(video)
    assert 40 < first.mean() < 220  # a picture, not the white page Gradio's own conversion made of it
    _grid, summary = client.predict([handle_file(str(p)) for p in odd.values()][:5], [handle_file(str(SPEECH))],
                                   "4", "0", "human", "fast", api_name=COMPARE)
    assert "5 videos" in summary
    for path in odd.values():
        assert load_image(path).shape == (512, 512, 3)  # what both endpoints decode, upright


def _first_frame(path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


@pytest.mark.parametrize(
    ("value", "words"),
    [(float("nan"), "finite number from 0 to 10; got NaN"), (float("inf"), "got infinity"), ("nan", "got NaN"),
     (None, "got nothing"), ([4], "got a list"), (True, "got true"), ("4 ", None), (4, None)],
)
def test_numbers_are_read_the_same_in_every_form(value, words) -> None:
    """What the handlers do with a raw JSON number, NaN included, and with text."""
    from model.validation import Range, parse_number

    if words is None:
        assert parse_number("guidance scale", value, Range(0, 10)) == 4.0
    else:
        with pytest.raises(ValueError, match=re.escape(words)):
            parse_number("guidance scale", value, Range(0, 10))
