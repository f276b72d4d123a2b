"""Head pose from a driving video: frames resampled to 25 fps, cropped and read by M, replacing the generated
pose while the expression still comes from the audio; and clear errors for unusable videos."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from model.__main__ import main
from model.cache import FeatureCache
from model.face.source_crop import crop_source
from model.face.video_frames import DrivingVideoError, video_frames
from model.motion.generate import with_video_pose
from model.pipeline import AnimateOptions, Animator
from model.render.motion_extractor import kp_info
from model.render.renderer import source_tensor
from tests.audio_fixtures import write_audio
from tests.face_fixtures import image_with_faces
from tests.test_pipeline import FAST, _speech

MS = Fraction(1, 1000)


def _write_video(path: Path, frames: list[np.ndarray], times_ms: list[int]) -> Path:
    """H.264 mp4 of ``frames`` shown at ``times_ms`` (any rate, variable too)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.time_base, stream.codec_context.time_base = "yuv420p", MS, MS
        for image, time in zip(frames, times_ms, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = time, MS
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _face_image(folder: Path) -> Path:
    path = folder / "face.png"
    cv2.imwrite(str(path), cv2.cvtColor(image_with_faces(360, 480, [(150, 60, 200)]), cv2.COLOR_RGB2BGR))
    return path


def _grey_levels(n: int) -> list[np.ndarray]:
    return [np.full((48, 64, 3), 8 * i, np.uint8) for i in range(n)]


def _moving_face(n: int) -> list[np.ndarray]:
    """A schematic face drifting right and growing: its crop (and so M's reading) changes from frame to frame."""
    return [image_with_faces(360, 480, [(120 + 4 * i, 60, 180 + 2 * i)]) for i in range(n)]


def test_any_frame_rate_becomes_25_fps_nearest_in_time(tmp_path) -> None:
    thirty = _write_video(tmp_path / "30.mp4", _grey_levels(30), [round(1000 * i / 30) for i in range(30)])
    levels = [round(f[0, 0, 0] / 8) for f in video_frames(thirty, 25, 1000)]
    assert levels == [round(k * 30 / 25) for k in range(25)]  # 1 s of video: 25 frames, nearest input frame each
    gaps = np.cumsum([0] + [20, 60] * 10)[:20]  # variable: 20 ms and 60 ms apart, alternately
    variable = _write_video(tmp_path / "vfr.mp4", _grey_levels(20), [int(t) for t in gaps])
    levels = [round(f[0, 0, 0] / 8) for f in video_frames(variable, 25, 1000)]
    expected = [int(np.argmin(np.abs(gaps - 40 * k))) for k in range(len(levels))]
    assert levels == expected and abs(len(levels) - (gaps[-1] / 40 + 1)) <= 1
    assert len(list(video_frames(thirty, 25, 7))) == 7  # only what is asked for is decoded


@pytest.mark.parametrize(("name", "content", "words"), [
    ("missing.mp4", None, "no such file"),
    ("empty.mp4", b"", "the file is empty"),
    ("page.mp4", b"<html><body>hello</body></html>", "not a video file this app reads"),
    ("broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "damaged"),
    ("speech.wav", "wav", "no video stream"),
])
def test_unusable_videos_are_refused_clearly(tmp_path, name, content, words) -> None:
    path = tmp_path / name
    if content == "wav":
        write_audio(path, np.zeros((1, 1600), np.float32), 16000)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(DrivingVideoError, match=words) as info:
        list(video_frames(path, 25, 10))
    assert str(tmp_path) not in str(info.value)


def test_video_pose_replaces_the_pose_held_or_looped() -> None:
    from model.motion.sequence import pose_sequence

    exp = np.random.default_rng(0).standard_normal((7, 21, 3)).astype(np.float32)
    generated = pose_sequence(exp, np.zeros((7, 7), np.float32), 25.0)
    pose = np.arange(21, dtype=np.float32).reshape(3, 7)
    chunks = [generated.frames(slice(0, 4)), generated.frames(slice(4, 7))]
    held = list(with_video_pose(chunks, pose, "hold"))
    looped = list(with_video_pose(chunks, pose, "loop"))
    assert np.array_equal(np.concatenate([c.pose() for c in held]), pose[[0, 1, 2, 2, 2, 2, 2]])
    assert np.array_equal(np.concatenate([c.pose() for c in looped]), pose[[0, 1, 2, 0, 1, 2, 0]])
    assert all(np.array_equal(a.exp, b.exp) for a, b in zip(held, chunks, strict=True))  # the expression stays
    with pytest.raises(ValueError, match="pose end must be one of hold, loop"):
        list(with_video_pose(chunks, pose, "bounce"))


def test_pose_from_a_video_drives_the_head_and_the_audio_the_lips(small_weights, tmp_path) -> None:
    animator = Animator(small_weights, device="cpu", cache=FeatureCache(tmp_path / "cache"))
    image = _face_image(tmp_path)
    audio = _speech(tmp_path / "s.wav", 1.6, 41)  # 40 frames
    frames = _moving_face(18)  # 0.6 s at 30 fps: 15 frames at 25 fps, shorter than the audio
    video = _write_video(tmp_path / "head.mp4", frames, [round(1000 * i / 30) for i in range(18)])
    plain = animator.animate(image, audio, tmp_path / "plain.mp4", AnimateOptions(sampler=FAST))
    held = animator.animate(image, audio, tmp_path / "held.mp4", AnimateOptions(sampler=FAST, pose_from=video))
    looped = animator.animate(image, audio, tmp_path / "looped.mp4",
                              AnimateOptions(sampler=FAST, pose_from=video, pose_end="loop"))
    assert held.n_frames == looped.n_frames == plain.n_frames == 40
    assert held.cache_hits["motion"]  # the audio's motion is reused: only the pose is replaced
    assert np.array_equal(held.motion.exp, plain.motion.exp) and np.array_equal(looped.motion.exp, plain.motion.exp)

    # The pose is M's reading of each video frame, cropped as a source image is.
    nets = animator.renderer("human")
    detector = animator.detector("human").detector
    resampled = list(video_frames(video, 25, 100))
    assert len(resampled) == 15
    with torch.inference_mode():
        crops = [crop_source(f, "human", AnimateOptions().crop, detector).crop_256 for f in resampled]
        info = kp_info(nets.motion_extractor(torch.cat([source_tensor(c) for c in crops])))
    expected = torch.cat([info["scale"], info["t"], info["pitch"], info["yaw"], info["roll"]], dim=1).numpy()
    np.testing.assert_allclose(held.motion.pose()[:15], expected, atol=1e-4, rtol=0)
    assert np.abs(np.diff(expected, axis=0)).max() > 1e-3  # the head does move in the video
    assert np.array_equal(held.motion.pose()[15:], np.repeat(held.motion.pose()[14:15], 25, axis=0))
    np.testing.assert_array_equal(looped.motion.pose()[15:30], looped.motion.pose()[:15])
    assert any("head pose from head.mp4: 15 frames, then hold" in note for note in held.notes)


def test_a_video_without_a_face_is_refused_before_anything_is_written(small_weights, tmp_path) -> None:
    animator = Animator(small_weights, device="cpu")
    image = _face_image(tmp_path)
    video = _write_video(tmp_path / "wall.mp4", [np.full((240, 320, 3), 90, np.uint8)] * 5, [0, 33, 67, 100, 133])
    out = tmp_path / "never.mp4"
    with pytest.raises(DrivingVideoError, match="no face found in the video"):
        animator.animate(image, _speech(tmp_path / "s.wav", 0.5, 2), out,
                         dataclasses.replace(AnimateOptions(sampler=FAST), pose_from=video))
    assert not out.exists() and list(tmp_path.glob("*.mp4")) == [video]
    with pytest.raises(ValueError, match="pose end must be one of hold, loop"):
        AnimateOptions(pose_end="bounce")


def test_command_line_pose_from(small_weights, tmp_path, capsys) -> None:
    image = _face_image(tmp_path)
    video = _write_video(tmp_path / "head.mp4", _moving_face(6), [round(1000 * i / 30) for i in range(6)])
    out = tmp_path / "out.mp4"
    assert main(["animate", "--image", str(image), "--audio", str(_speech(tmp_path / "s.wav", 0.8, 5)), "--out",
                 str(out), "--weights", str(small_weights), "--no-cache", "--device", "cpu", "--sampler", "ddim",
                 "--steps", "3", "--pose-from", str(video), "--pose-end", "loop"]) == 0
    assert out.is_file() and "head pose from head.mp4: 5 frames, then loop" in capsys.readouterr().out
