"""End to end: image + audio -> mp4 through the Animator, on small test weights (CPU)."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from model.__main__ import main
from model.audio.decode import AudioError
from model.cache import FeatureCache
from model.face.source_crop import CropOptions, NoFaceError
from model.motion.sampler import SamplerConfig
from model.pipeline import AnimateOptions, Animator
from model.testweights import recipe
from model.weights import FILES_BY_KEY, write_local_manifest
from tests.audio_fixtures import write_audio
from tests.face_fixtures import TinyFace, image_with_faces, layout_106, write_2d106det, write_det_10g, write_landmark

FPS = 25
#: A fast sampler keeps these tests short; the exact sampler is covered by the stage-1 tests.
FAST = SamplerConfig(kind="ddim", num_steps=4, cfg_scale=4.0, seed=0)


def _speech(path: Path, seconds: float, seed: int) -> Path:
    return write_audio(path, recipe.audio(int(16000 * seconds), seed)[None], 16000)


def _picture(path: Path, image_rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), image_rgb[:, :, ::-1])
    return path


def _streams(path: Path) -> tuple[dict[str, str], int, float, tuple[int, int], list[np.ndarray]]:
    with av.open(str(path)) as container:
        kinds = {s.type: s.codec_context.name for s in container.streams}
        duration = float(container.duration) / av.time_base
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return kinds, len(frames), duration, frames[0].shape[:2], frames


@pytest.fixture
def animator(small_weights, tmp_path) -> Animator:
    return Animator(small_weights, device="cpu", cache=FeatureCache(tmp_path / "cache"))


@pytest.fixture
def face_image(tmp_path) -> Path:
    return _picture(tmp_path / "face.png", image_with_faces(360, 480, [(150, 60, 200)]))


@pytest.mark.parametrize("mode", ["human", "animal"])
def test_mp4_has_video_and_audio_of_the_right_length(animator, face_image, tmp_path, mode) -> None:
    audio = _speech(tmp_path / "speech.wav", 2.3, seed=1)
    out = tmp_path / f"{mode}.mp4"
    stages = []
    result = animator.animate(
        face_image,
        audio,
        out,
        AnimateOptions(mode=mode, sampler=FAST),
        progress=lambda stage, fraction: stages.append((stage, fraction)),
    )
    kinds, n_frames, duration, size, _ = _streams(out)
    assert kinds == {"video": "h264", "audio": "aac"}
    expected = -(-int(16000 * 2.3) * FPS // 16000)  # frames until the end of the audio
    assert n_frames == result.n_frames == expected
    assert abs(duration - 2.3) <= 1 / FPS + 0.03  # AAC frame granularity on top of one video frame
    assert size == (360, 480) == result.size  # pasted back into the source image
    assert list(dict.fromkeys(s for s, f in stages if f == 1.0)) == [
        "inputs",
        "source",
        "audio features",
        "motion",
        "render",
    ]
    assert not any(result.cache_hits.values())
    assert not list(tmp_path.glob(".*.mp4*"))  # no temporary file left


def test_cache_hits_and_identical_frames(animator, face_image, tmp_path) -> None:
    first = _speech(tmp_path / "a.wav", 1.5, seed=2)
    options = AnimateOptions(mode="human", sampler=FAST)
    cold = animator.animate(face_image, first, tmp_path / "cold.mp4", options)
    again = animator.animate(face_image, first, tmp_path / "again.mp4", options)
    assert again.cache_hits == {"source": True, "audio features": True, "motion": True}
    np.testing.assert_array_equal(
        np.stack(_streams(tmp_path / "cold.mp4")[4]), np.stack(_streams(tmp_path / "again.mp4")[4])
    )
    fresh = Animator(animator.weights_dir, device="cpu", cache=FeatureCache(enabled=False))
    uncached = fresh.animate(face_image, first, tmp_path / "fresh.mp4", options)
    assert not any(uncached.cache_hits.values())
    np.testing.assert_array_equal(
        np.stack(_streams(tmp_path / "cold.mp4")[4]), np.stack(_streams(tmp_path / "fresh.mp4")[4])
    )
    second = _speech(tmp_path / "b.m4a", 1.5, seed=3)
    new_audio = animator.animate(face_image, second, tmp_path / "new_audio.mp4", options)
    assert new_audio.cache_hits == {"source": True, "audio features": False, "motion": False}
    assert new_audio.timings["source"] < cold.timings["source"]


def test_onnx_detector_path_in_the_weights_tree(small_weights, face_image, tmp_path) -> None:
    tree = tmp_path / "weights"
    shutil.copytree(small_weights, tree)
    buffalo = tree / "insightface/models/buffalo_l"
    buffalo.mkdir(parents=True)
    face = TinyFace(stride=16, row=14, col=18, anchor=0, score=0.9, box=(200.0, 150.0, 330.0, 300.0))
    write_det_10g(buffalo / "det_10g.onnx", [face])
    write_2d106det(buffalo / "2d106det.onnx", layout_106())
    # refiner output in [0, 1] of its 224 crop: any plausible spread of points
    write_landmark(tree / "liveportrait/landmark.onnx", np.random.default_rng(0).uniform(0.3, 0.7, (203, 2)))
    write_local_manifest(tree, FILES_BY_KEY, "test tree with tiny ONNX stand-ins")
    animator = Animator(tree, device="cpu")
    result = animator.animate(
        face_image,
        _speech(tmp_path / "s.wav", 1.0, 4),
        tmp_path / "o.mp4",
        AnimateOptions(sampler=FAST, detector="onnx"),
    )
    assert "203 landmarks" in result.notes[0] and result.n_frames == FPS


def test_no_face_is_a_clear_error_and_leaves_no_file(animator, tmp_path) -> None:
    blank = _picture(tmp_path / "blank.png", np.full((200, 300, 3), 128, np.uint8))
    out = tmp_path / "none.mp4"
    with pytest.raises(NoFaceError, match="animal mode"):
        animator.animate(blank, _speech(tmp_path / "s.wav", 1.0, 5), out, AnimateOptions(sampler=FAST))
    assert not out.exists()
    # a manual box or no crop works on the same picture
    for crop in (CropOptions(box=(50, 20, 120, 120)), CropOptions(enabled=False)):
        result = animator.animate(blank, tmp_path / "s.wav", out, AnimateOptions(sampler=FAST, crop=crop))
        assert out.exists() and result.n_frames == FPS


def test_bad_audio_is_a_clear_error(animator, face_image, tmp_path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    with pytest.raises(AudioError):
        animator.animate(face_image, text, tmp_path / "x.mp4", AnimateOptions(sampler=FAST))
    assert not (tmp_path / "x.mp4").exists()


def test_command_line(small_weights, face_image, tmp_path, capsys) -> None:
    out = tmp_path / "cli.mp4"
    code = main(
        [
            "animate",
            "--image",
            str(face_image),
            "--audio",
            str(_speech(tmp_path / "s.flac", 1.0, 6)),
            "--out",
            str(out),
            "--weights",
            str(small_weights),
            "--sampler",
            "ddim",
            "--steps",
            "3",
            "--no-cache",
            "--device",
            "cpu",
            "--no-pasteback",
        ]
    )
    assert code == 0 and out.exists()
    printed = capsys.readouterr().out
    assert "25 frames" in printed and "render" in printed
    assert _streams(out)[3] == (128, 128)  # the small renderer's crop output
