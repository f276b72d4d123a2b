"""Face-stage timings: ONNX pre/post-processing (no model), the Haar cascade, and paste-back (OpenCV vs torch).

Usage: python benchmarks/bench_face.py [--repeats N] [--frames 25] [--device cpu|cuda]
Images are 1280x720 (the long-side cap); paste-back uses the default 2.3-scale crop of a face spanning
``--face`` pixels (landmark extent), so the crop covers about (2.3 * face)^2 pixels of the frame.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from model.face.cascade import HaarCascade
from model.face.crop import crop_image
from model.face.landmarks import landmark106_input, landmark106_output, refiner_input, refiner_output
from model.face.paste import TorchPasteBack, paste_back, prepare_paste_back
from model.face.scrfd import ANCHORS_PER_CELL, DET_SIZE, STRIDES, decode, letterbox, nms, to_blob
from model.face.source_crop import crop_source
from tests.face_fixtures import image_with_faces, layout_106


def best_ms(fn, repeats: int, sync=lambda: None) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1000 * min(times), 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--face", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    image = image_with_faces(720, 1280, [(500, 150, 300)])
    box = np.array([520, 170, 780, 430], np.float32)
    lmk106 = (layout_106() * args.face / 1.1 + [640, 360]).astype(np.float32)

    outputs = []
    for kind in (1, 4, 10):
        for stride in STRIDES:
            n = (DET_SIZE // stride) ** 2 * ANCHORS_PER_CELL
            # Scores: about 1% of the anchors above the 0.15 threshold (a few faces' worth of candidates).
            outputs.append(rng.random((n, kind), dtype=np.float32) * (0.1515 if kind == 1 else 3))
    candidates = len(decode(outputs, DET_SIZE, 0.15))

    def scrfd_post():
        found = decode(outputs, DET_SIZE, 0.15)
        nms(found.boxes, found.scores)

    crop = refiner_input(image, lmk106)[1]
    cascade = HaarCascade()
    matrix = landmark106_input(image, box, 192)[1]
    rows = {
        "SCRFD pre (letterbox + blob)": lambda: to_blob(letterbox(image)[0]),
        f"SCRFD post (decode + NMS, {candidates} candidates)": scrfd_post,
        "2d106det pre": lambda: landmark106_input(image, box, 192),
        "2d106det post": lambda: landmark106_output(rng.random((1, 212), dtype=np.float32), matrix, 192),
        "refiner pre (224 crop + blob)": lambda: refiner_input(image, lmk106),
        "refiner post": lambda: refiner_output(rng.random((1, 406), dtype=np.float32), crop),
        "512 crop + 256 INTER_AREA": lambda: crop_image(image, lmk106).area_resize(),
        "Haar cascade detection (frontal face)": lambda: cascade.detect(image),
        "Haar cascade + box crop (crop_source)": lambda: crop_source(image, "human"),
    }
    for name, fn in rows.items():
        print(f"{name:48s} best {best_ms(fn, args.repeats)[0]:8.2f} ms")

    m_c2o = crop_image(image, lmk106).M_c2o
    frames = rng.integers(0, 256, (args.frames, 512, 512, 3), dtype=np.uint8)
    prepared = prepare_paste_back(image, m_c2o)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    paster = TorchPasteBack.from_prepared(prepared, device)
    on_device = torch.from_numpy(frames).to(device)
    prepare_ms = best_ms(lambda: prepare_paste_back(image, m_c2o), args.repeats)[0]
    print(f"{'prepare_paste_back':48s} best {prepare_ms:8.2f} ms")
    print(f"{'TorchPasteBack.from_prepared':48s} best "
          f"{best_ms(lambda: TorchPasteBack.from_prepared(prepared, device), args.repeats)[0]:8.2f} ms")
    print(f"masked pixels: {paster.pixels.numel()} of {1280 * 720}")
    cv2_ms = best_ms(lambda: paste_back(frames, prepared), args.repeats)
    torch_ms = best_ms(lambda: paster(on_device), args.repeats, sync)
    print(f"paste-back {args.frames} frames 1280x720, OpenCV: best {cv2_ms[0]:8.1f} ms, median {cv2_ms[1]:8.1f} ms")
    print(f"paste-back {args.frames} frames 1280x720, torch {device.type}: "
          f"best {torch_ms[0]:8.1f} ms, median {torch_ms[1]:8.1f} ms")
    same = np.array_equal(paster(on_device).cpu().numpy(), paste_back(frames, prepared))
    print(f"torch == OpenCV bytes: {same}")


if __name__ == "__main__":
    main()
