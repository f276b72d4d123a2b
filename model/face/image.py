"""Reading the source image: decoding with EXIF orientation, RGB conversion, and the official size clamp."""

from __future__ import annotations

import io
import os
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps

#: Long-side cap and size divisor of the official pipeline (``source_max_dim``, ``source_division``).
MAX_DIM = 1280
DIVISION = 2
#: Smallest usable side in pixels: below this no face can be cropped meaningfully.
MIN_SIDE = 32
#: Largest image accepted for decoding (width * height), far above any photo but below decompression bombs.
MAX_PIXELS = 100_000_000


class ImageError(ValueError):
    """The input is not a usable image (undecodable, wrong type or shape, too small or too large)."""


def load_image(source: str | os.PathLike | bytes) -> np.ndarray:
    """Decode a file path or encoded bytes into (H, W, 3) uint8 RGB, applying the EXIF orientation.

    Grayscale, palette and 16-bit images are converted to RGB; an alpha channel is dropped (as the
    official ``cv2.imread(IMREAD_COLOR)`` does). Only the first frame of animated images is used.
    """
    try:
        with warnings.catch_warnings():
            # Our own pixel limit replaces PIL's decompression-bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise ImageError(f"image is {img.width}x{img.height}: more than {MAX_PIXELS} pixels")
                img = ImageOps.exif_transpose(img)
                if img.mode == "I" or img.mode.startswith("I;16"):
                    # 16-bit grayscale: keep the top 8 bits (PIL's own conversion would clip at 255).
                    img = Image.fromarray((np.clip(np.asarray(img), 0, 65535) >> 8).astype(np.uint8))
                rgb = np.asarray(img.convert("RGB"))
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError(f"cannot decode the image: {exc}") from exc
    return check_image(rgb)


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
        raise ImageError(f"image is {width}x{height}: each side must be at least {MIN_SIDE} pixels")
    if height * width > MAX_PIXELS:
        raise ImageError(f"image is {width}x{height}: more than {MAX_PIXELS} pixels")
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
