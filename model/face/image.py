"""Reading the source image: decoding with EXIF orientation, RGB conversion, and the official size clamp."""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

#: Long-side cap and size divisor of the official pipeline (``source_max_dim``, ``source_division``).
MAX_DIM = 1280
DIVISION = 2
#: Smallest usable side in pixels: below this no face can be cropped meaningfully.
MIN_SIDE = 32
#: Largest image accepted for decoding (width * height) by default: far above any photo, below decompression bombs.
MAX_PIXELS = 100_000_000
#: Leading bytes of files people upload by mistake, to say what they gave instead of an image.
_NOT_IMAGES = (
    (b"ID3", "an MP3 file"), (b"OggS", "an Ogg file"), (b"fLaC", "a FLAC file"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive"), (b"<!DOCTYPE", "an HTML page"),
    (b"<html", "an HTML page"),
)
IMAGE_FORMATS_HINT = "JPEG, PNG, WebP, BMP, TIFF or GIF"


class ImageError(ValueError):
    """The input is not a usable image (undecodable, wrong type or shape, too small or too large)."""


def _what_it_is(data: bytes) -> str:
    head = data[:16]
    if not head:
        return "the file is empty"
    if head[4:8] == b"ftyp":
        return "the file is an MP4/M4A media file, not an image"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "the file is a WAV audio file, not an image"
    for magic, kind in _NOT_IMAGES:
        if head.lower().startswith(magic.lower()):
            return f"the file is {kind}, not an image"
    return "the file is not an image this app can read"


def _too_many_pixels(width: int, height: int, max_pixels: int) -> ImageError:
    return ImageError(
        f"the image is {width}x{height} pixels ({width * height / 1e6:,.0f} megapixels); the limit is "
        f"{max_pixels / 1e6:g} megapixels. Scale it down (the animation uses at most {MAX_DIM} pixels a side)."
    )


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file's bytes into (H, W, 3) uint8 RGB, applying the EXIF orientation.

    The size is read from the header and checked against ``max_pixels`` before any pixel is decoded, so a
    decompression bomb costs neither time nor memory. Grayscale, palette, CMYK and 16-bit images are
    converted to RGB; an alpha channel is dropped (as the official ``cv2.imread(IMREAD_COLOR)`` does). Only
    the first frame of animated images is used.
    """
    try:
        with warnings.catch_warnings():
            # Our own pixel limit replaces PIL's decompression-bomb warning (its error still applies above 2x).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > max_pixels:
                    raise _too_many_pixels(img.width, img.height, max_pixels)
                img = ImageOps.exif_transpose(img)
                if img.mode == "I" or img.mode.startswith("I;16"):
                    # 16-bit grayscale: keep the top 8 bits (PIL's own conversion would clip at 255).
                    img = Image.fromarray((np.clip(np.asarray(img), 0, 65535) >> 8).astype(np.uint8))
                rgb = np.asarray(img.convert("RGB"))
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"the image declares far more pixels than the limit of {max_pixels / 1e6:g} megapixels; scale it down"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{_what_it_is(data)}; use {IMAGE_FORMATS_HINT}") from exc
    return check_image(rgb)


def load_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """:func:`decode_image` of a file path or of the file's bytes."""
    return SourceImage.read(source, max_pixels).pixels


@dataclass(frozen=True, eq=False)
class SourceImage:
    """An input image decoded once: ``data``, the file's bytes (what caches key on), and ``pixels``,
    (H, W, 3) uint8 RGB."""

    data: bytes
    pixels: np.ndarray

    @classmethod
    def read(cls, source: str | os.PathLike | bytes | SourceImage, max_pixels: int = MAX_PIXELS) -> SourceImage:
        """Read and decode a path or bytes (a :class:`SourceImage` is returned as it is)."""
        if isinstance(source, SourceImage):
            return source
        if isinstance(source, bytes):
            data = source
        else:
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise ImageError(f"{Path(source).name}: cannot read the file ({exc.strerror or 'unreadable'})") from exc
        return cls(data, decode_image(data, max_pixels))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 -> (H, W, 3) uint8 RGB (alpha dropped)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ImageError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ImageError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")


def check_image(image: np.ndarray) -> np.ndarray:
    """RGB-convert (see :func:`to_rgb`) and check the size: each side >= MIN_SIDE, at most MAX_PIXELS."""
    image = to_rgb(image)
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageError(f"the image is {width}x{height} pixels; each side must be at least {MIN_SIDE} pixels")
    if height * width > MAX_PIXELS:
        raise _too_many_pixels(width, height, MAX_PIXELS)
    return image


def limited_size(height: int, width: int, max_dim: int = MAX_DIM) -> tuple[int, int]:
    """(height, width) after the long-side cap of :func:`resize_to_limit`, before the division trim."""
    if max_dim <= 0 or max(height, width) <= max_dim:
        return height, width
    if height > width:
        return max_dim, int(width * (max_dim / height))
    return int(height * (max_dim / width)), max_dim


def resize_to_limit(image: np.ndarray, max_dim: int = MAX_DIM, division: int = DIVISION) -> np.ndarray:
    """The official clamp: bilinear resize so the long side is <= ``max_dim`` (aspect kept, sizes truncated),
    then trim (not resize) the bottom/right so height and width are multiples of ``division``.
    """
    height, width = image.shape[:2]
    new_h, new_w = limited_size(height, width, max_dim)
    if (new_h, new_w) != (height, width):
        image = cv2.resize(image, (new_w, new_h))
    division = max(division, 1)
    new_h, new_w = new_h - new_h % division, new_w - new_w % division
    if new_h == 0 or new_w == 0:
        return image
    return image[:new_h, :new_w]
