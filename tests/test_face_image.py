"""Reading and clamping source images: EXIF orientation, modes, sizes, errors."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from model.face import image as image_module
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


def test_bad_images_give_clear_errors(monkeypatch) -> None:
    with pytest.raises(ImageError, match="cannot decode"):
        load_image(b"not an image")
    with pytest.raises(ImageError, match="at least 32"):
        load_image(encode(Image.fromarray(np.zeros((20, 100, 3), np.uint8))))
    with pytest.raises(ImageError, match="uint8"):
        check_image(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ImageError, match="shape"):
        check_image(np.zeros((64, 64, 2), np.uint8))
    monkeypatch.setattr(image_module, "MAX_PIXELS", 64 * 64)
    with pytest.raises(ImageError, match="more than 4096 pixels"):
        load_image(encode(Image.new("L", (100, 50))))
