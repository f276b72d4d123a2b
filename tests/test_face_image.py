"""Reading and clamping source images: EXIF orientation, modes, sizes, errors."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from model.face.image import ImageError, check_image, load_image, resize_to_limit, to_rgb

RNG = np.random.default_rng(0)


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_resize_to_limit_caps_the_long_side_then_trims_to_even() -> None:
    wide = RNG.integers(0, 256, (1001, 2000, 3), dtype=np.uint8)
    out = resize_to_limit(wide)
    assert out.shape == (640, 1280, 3)
    np.testing.assert_array_equal(out, cv2.resize(wide, (1280, 640)))
    tall = resize_to_limit(RNG.integers(0, 256, (1500, 999, 3), dtype=np.uint8))
    assert tall.shape == (1280, 852, 3)
    odd = RNG.integers(0, 256, (481, 641, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_to_limit(odd), odd[:480, :640])


def test_load_png_path_and_bytes(tmp_path) -> None:
    rgb = RNG.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    data = encode(Image.fromarray(rgb))
    np.testing.assert_array_equal(load_image(data), rgb)
    (tmp_path / "a.png").write_bytes(data)
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), rgb)
    np.testing.assert_array_equal(load_image(str(tmp_path / "a.png")), rgb)


def test_exif_orientation_is_applied() -> None:
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, :10] = 255  # a white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = load_image(encode(Image.fromarray(rgb), "JPEG", exif=exif, quality=95))
    assert out.shape == (60, 40, 3)
    assert out[:10].mean() > 200 and out[-10:].mean() < 50  # the band is now on top


def test_gray_rgba_and_16_bit_images() -> None:
    gray = RNG.integers(0, 256, (40, 50), dtype=np.uint8)
    np.testing.assert_array_equal(load_image(encode(Image.fromarray(gray))), np.repeat(gray[..., None], 3, 2))
    rgba = RNG.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    np.testing.assert_array_equal(load_image(encode(Image.fromarray(rgba))), rgba[..., :3])
    deep = (gray.astype(np.uint16) << 8) | 0x7F
    np.testing.assert_array_equal(load_image(encode(Image.fromarray(deep))), np.repeat(gray[..., None], 3, 2))
    np.testing.assert_array_equal(to_rgb(gray[..., None]), np.repeat(gray[..., None], 3, 2))


def test_cmyk_and_palette_images_become_rgb() -> None:
    rgb = RNG.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    cmyk = load_image(encode(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=100))
    assert cmyk.shape == (40, 50, 3) and np.abs(cmyk.astype(int) - rgb).mean() < 20
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    np.testing.assert_array_equal(load_image(encode(palette)), np.asarray(palette.convert("RGB")))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "the file is empty"),
        (b"not an image", "not an image this app can read"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "an HTML page, not an image"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(64), "a WAV audio file, not an image"),
        (b"\x00\x00\x00\x20ftypisom" + bytes(64), "MP4/M4A media file"),
        (bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), "not an image this app can read"),
    ],
)
def test_unreadable_files_say_what_they_are(data, words) -> None:
    with pytest.raises(ImageError, match=words) as info:
        load_image(data)
    assert "Error" not in str(info.value) and "BytesIO" not in str(info.value)


def test_bad_images_give_clear_errors() -> None:
    with pytest.raises(ImageError, match="at least 32"):
        load_image(encode(Image.fromarray(np.zeros((20, 100, 3), np.uint8))))
    with pytest.raises(ImageError, match="uint8"):
        check_image(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ImageError, match="shape"):
        check_image(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(ImageError, match=r"100x50 pixels .* the limit is 0.004096 megapixels"):
        load_image(encode(Image.new("L", (100, 50))), max_pixels=64 * 64)


_BOMB_PROBE = """
import resource, sys, time
from model.face.image import ImageError, load_image
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load_image(data, max_pixels=int(sys.argv[2]))
    outcome = "decoded"
except ImageError as exc:
    outcome = str(exc)
seconds = time.perf_counter() - start
grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(repr((outcome, seconds, grown_mb)))
"""


def _bomb(path, side: int) -> None:
    """A PNG whose header claims side x side pixels: a few hundred KB of zeros, a huge decoded image."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    row = bytes(1 + side)  # filter byte + one grey byte per pixel
    rows = zlib.compressobj(9)
    body = b"".join(rows.compress(row) for _ in range(min(side, 2000))) + rows.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [9000, 50000])
def test_decompression_bombs_are_refused_from_the_header(tmp_path, side) -> None:
    """Run in a fresh process so its peak memory is this load's alone."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "bomb.png"
    _bomb(path, side)
    assert path.stat().st_size < 2_000_000
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", _BOMB_PROBE, str(path), str(50_000_000)], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    outcome, seconds, grown_mb = ast.literal_eval(out.strip().splitlines()[-1])
    assert "megapixels" in outcome and "scale it down" in outcome.lower()
    assert seconds < 0.5 and grown_mb < 30, (seconds, grown_mb)
