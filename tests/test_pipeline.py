"""End to end: image + audio -> mp4 through the Animator, on small test weights (CPU)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

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
    assert list(dict.fromkeys(s for s, f in stages if f == 1.0)) == ["inputs", "source", "motion", "render"]
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
    assert "25 frames" in printed and "render" in printed and "first segment after" in printed
    assert _streams(out)[3] == (128, 128)  # the small renderer's crop output


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--cfg-scale", "nan"], "guidance scale must be a finite number from 0 to 10; got NaN"),
        (["--seed", "-3"], "seed must be from 0 to 2147483647"),
        (["--crop-scale", "inf"], "crop scale must be a finite number"),
        (["--driving-multiplier", "7"], "driving multiplier must be from 0 to 2"),
        (["--crf", "80"], "CRF"),
        (["--face-index", "4"], "face 4 requested, but 1 face was found; choose 0"),
        (["--face-box", "900,900,40,40"], "lies mostly outside"),
        (["--precision", "fp16", "--sampler", "ddim"], "fp16 rendering needs a GPU"),
        (["--blink-rate", "90"], "blink rate must be from 0 to 60"),
        (["--mode", "animal", "--blink-rate", "15"], "blinks, eye opening and gaze are for human faces"),
        (["--pose-from", "missing.mp4"], "missing.mp4: no such file; give the path of a video file"),
    ],
)
def test_command_line_refuses_bad_values_in_one_line(small_weights, face_image, tmp_path, capsys, flags,
                                                     words) -> None:
    out = tmp_path / "never.mp4"
    code = main(["animate", "--image", str(face_image), "--audio", str(_speech(tmp_path / "s.wav", 0.5, 1)),
                 "--out", str(out), "--weights", str(small_weights), "--no-cache", "--device", "cpu", *flags])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.glob("*.mp4")) == []


def test_two_animations_at_once_equal_one_after_the_other(small_weights, tmp_path) -> None:
    """One Animator shared by two threads (as the demo's requests share it) gives the sequential videos."""
    import threading

    other = SamplerConfig(kind="ddim", num_steps=4, cfg_scale=2.0, seed=9)
    jobs = [
        (_picture(tmp_path / "a.png", image_with_faces(360, 480, [(150, 60, 200)])),
         _speech(tmp_path / "a.wav", 1.2, 5), AnimateOptions(sampler=FAST)),
        (_picture(tmp_path / "b.png", image_with_faces(400, 400, [(120, 80, 180)])),
         _speech(tmp_path / "b.wav", 1.0, 6), AnimateOptions(mode="animal", sampler=other)),
    ]
    alone = Animator(small_weights, device="cpu")
    expected = [_streams(alone.animate(image, audio, tmp_path / f"alone{n}.mp4", options).path)[4]
                for n, (image, audio, options) in enumerate(jobs)]
    shared = Animator(small_weights, device="cpu")
    paths, errors = {}, []

    def run(n: int) -> None:
        image, audio, options = jobs[n]
        try:
            paths[n] = shared.animate(image, audio, tmp_path / f"together{n}.mp4", options).path
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for n, frames in enumerate(expected):
        together = _streams(paths[n])[4]
        assert len(together) == len(frames)
        assert all(np.array_equal(x, y) for x, y in zip(together, frames, strict=True))


def test_each_option_changes_exactly_the_cache_keys_it_should(small_weights, face_image, tmp_path) -> None:
    import dataclasses

    from model.audio.decode import load_audio
    from model.face.image import SourceImage
    from model.render.composition import CompositionOptions
    from model.video import VideoOptions

    animator = Animator(small_weights, device="cpu")
    image = SourceImage.read(face_image)
    samples = load_audio(_speech(tmp_path / "k.wav", 1.0, 8))
    base = AnimateOptions(sampler=FAST)
    keys = animator.cache_keys(image, samples, base)

    def changed(options=base, picture=image, pcm=samples) -> set[str]:
        other = animator.cache_keys(picture, pcm, options)
        return {name for name in ("source", "audio", "motion") if getattr(other, name) != getattr(keys, name)}

    sampler = base.sampler
    expected = {
        "crop scale": (dataclasses.replace(base, crop=CropOptions(scale=2.0)), {"source"}),
        "crop offset": (dataclasses.replace(base, crop=CropOptions(x_offset=0.1)), {"source"}),
        "face box": (dataclasses.replace(base, crop=CropOptions(box=(150, 60, 200, 200))), {"source"}),
        "no crop": (dataclasses.replace(base, crop=CropOptions(enabled=False)), {"source"}),
        "detector": (dataclasses.replace(base, detector="cascade"), set()),  # auto is the cascade here
        "mode": (AnimateOptions(mode="animal", sampler=FAST), {"source"}),
        "seed": (dataclasses.replace(base, sampler=dataclasses.replace(sampler, seed=1)), {"motion"}),
        "guidance": (dataclasses.replace(base, sampler=dataclasses.replace(sampler, cfg_scale=2.8)), {"motion"}),
        "steps": (dataclasses.replace(base, sampler=dataclasses.replace(sampler, num_steps=5)), {"motion"}),
        "sampler": (dataclasses.replace(base, sampler=dataclasses.replace(sampler, kind="dpmsolver++")), {"motion"}),
        "smoothing": (dataclasses.replace(base, smooth=False), set()),
        "composition": (dataclasses.replace(base, composition=CompositionOptions(driving_multiplier=1.5)), set()),
        "eye controls": (dataclasses.replace(base, composition=CompositionOptions(blink_rate=20, eye_open=0.8,
                                                                                  gaze_x=0.3)), set()),
        "paste-back": (dataclasses.replace(base, pasteback=False), set()),
        "batch and precision": (dataclasses.replace(base, batch_size=2, precision="bf16"), set()),
        "video": (dataclasses.replace(base, video=VideoOptions(crf=23)), set()),
    }
    for name, (options, keys_changed) in expected.items():
        assert changed(options) == keys_changed, name
    assert changed(pcm=samples[:-160]) == {"audio", "motion"}
    assert changed(picture=SourceImage.read(image.data + b"\0")) == {"source"}
    assert animator.cache_keys(image, samples, dataclasses.replace(base, sampler=dataclasses.replace(
        sampler, seed=None))).motion is None
    on_gpu = Animator(small_weights, device="cpu")
    assert on_gpu.cache_keys(image, samples, base) == keys  # loads the networks here, on the CPU
    on_gpu.device = torch.device("cuda")  # only the key is computed: seeded noise differs between devices
    assert on_gpu.cache_keys(image, samples, base).motion != keys.motion


def test_a_face_index_past_the_faces_found_says_which_exist(animator, face_image, tmp_path) -> None:
    from model.face.image import SourceImage

    with pytest.raises(ValueError, match=r"face 3 requested, but 1 face was found; choose 0"):
        animator.crop(SourceImage.read(face_image), AnimateOptions(crop=CropOptions(face_index=3)))
    with pytest.raises(ValueError, match="lies mostly outside the 480x360 image"):
        animator.crop(SourceImage.read(face_image), AnimateOptions(crop=CropOptions(box=(900, 900, 50, 50))))


def test_nine_small_faces_in_a_group_photo_are_all_found(animator, tmp_path) -> None:
    """Nine 512 px portraits tiled 3x3 (1536 px): the run sees it at 1280, with faces of about 80 px."""
    from model.face.image import SourceImage, resize_to_limit

    portrait = cv2.imread(str(Path(__file__).resolve().parent.parent / "assets" / "astronaut_photo.jpg"))
    group = np.vstack([np.hstack([portrait] * 3)] * 3)
    picture = SourceImage.read(_picture(tmp_path / "group.png", group[:, :, ::-1]))
    assert picture.pixels.shape == (1536, 1536, 3)
    assert len(animator.detector("human").detect_faces(resize_to_limit(picture.pixels))) == 9
    crop = animator.crop(picture, AnimateOptions(crop=CropOptions(face_index=8)))
    assert "face 9 of 9" in crop.note


def test_stream_segments_hold_exactly_the_frames_of_animate(animator, face_image, tmp_path) -> None:
    audio = _speech(tmp_path / "long.wav", 5.0, seed=11)  # two motion windows
    options = AnimateOptions(sampler=FAST)
    plain = animator.animate(face_image, audio, tmp_path / "plain.mp4", options)
    stream = animator.animate_stream(face_image, audio, tmp_path / "streamed.mp4", options,
                                     segment_dir=tmp_path / "segments")
    segments, frames = [], []
    for segment in stream:
        segments.append(segment)
        kinds, n, _, _, decoded = _streams(segment.path)
        assert kinds == {"video": "h264", "audio": "aac"}  # every segment self-contained, with its audio
        assert n == segment.n_frames
        frames += decoded
    assert [s.first_frame for s in segments] == [25 * i for i in range(len(segments))] and len(segments) == 5
    assert segments[-1].end == pytest.approx(plain.n_frames / FPS)
    whole = _streams(plain.path)[4]
    assert len(frames) == len(whole) == stream.result.n_frames
    assert all(np.array_equal(a, b) for a, b in zip(frames, whole, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(_streams(tmp_path / "streamed.mp4")[4], whole, strict=True))
    assert stream.result.segments == 5 and stream.result.first_segment_seconds is not None


def test_the_first_segment_comes_before_the_second_window_is_sampled(small_weights, face_image, tmp_path,
                                                                     monkeypatch) -> None:
    """Instrumented: sampling window 1 waits until the consumer has the first segment (a pipeline that needed
    window 1 first would wait forever: the gate's timeout makes that a failure)."""
    import threading

    from model.motion import windows

    events, gate = [], threading.Event()
    real = windows.sample_window

    def gated(*args, window=0, **kwargs):
        if window == 1:
            gate.wait(timeout=60)
            events.append("window 1 sampled")
        return real(*args, window=window, **kwargs)

    monkeypatch.setattr(windows, "sample_window", gated)
    animator = Animator(small_weights, device="cpu")
    stream = animator.animate_stream(face_image, _speech(tmp_path / "s.wav", 5.0, 12), tmp_path / "o.mp4",
                                     AnimateOptions(sampler=FAST))
    for segment in stream:
        if segment.index == 0:
            events.append("segment 0 yielded")
            gate.set()
    assert events == ["segment 0 yielded", "window 1 sampled"]


def test_closing_a_stream_early_stops_the_work_and_leaves_no_files(small_weights, face_image, tmp_path) -> None:
    import threading

    animator = Animator(small_weights, device="cpu")
    out, folder = tmp_path / "out" / "never.mp4", tmp_path / "segments"
    stream = animator.animate_stream(face_image, _speech(tmp_path / "s.wav", 9.0, 13), out,
                                     AnimateOptions(sampler=FAST), segment_dir=folder)
    first = next(iter(stream))
    assert first.path.is_file()
    stream.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("joyvasa-")]
    assert not out.exists() and list(out.parent.iterdir()) == []  # no partial mp4, no temporary file
    assert list(folder.iterdir()) == []  # no segment left
    temp_segments = Animator(small_weights, device="cpu").animate_stream(
        face_image, _speech(tmp_path / "t.wav", 2.0, 14), tmp_path / "t.mp4", AnimateOptions(sampler=FAST))
    with temp_segments:
        made = next(iter(temp_segments)).path.parent
    assert not made.exists()  # a stream's own temporary folder goes with it


def test_a_sync_offset_moves_the_motion_by_whole_frames_and_keeps_the_duration(animator, face_image, tmp_path):
    audio = _speech(tmp_path / "s.wav", 1.6, 21)
    plain = animator.animate(face_image, audio, tmp_path / "plain.mp4", AnimateOptions(sampler=FAST))
    early = animator.animate(face_image, audio, tmp_path / "early.mp4", AnimateOptions(sampler=FAST,
                                                                                        sync_offset_ms=80))
    late = animator.animate(face_image, audio, tmp_path / "late.mp4", AnimateOptions(sampler=FAST,
                                                                                      sync_offset_ms=-40))
    assert early.n_frames == late.n_frames == plain.n_frames  # the audio's duration
    assert early.cache_hits["motion"] and late.cache_hits["motion"]  # the offset acts after the cache
    assert len(early.motion) == len(plain.motion) == plain.n_frames
    assert np.array_equal(early.motion.exp[:-2], plain.motion.exp[2:])  # 80 ms = two frames earlier
    assert np.array_equal(late.motion.exp[1:], plain.motion.exp[:-1]) and np.array_equal(late.motion.exp[0],
                                                                                          plain.motion.exp[0])


def test_blinks_act_after_the_cached_motion_and_keep_the_length(animator, face_image, tmp_path) -> None:
    from model.render.composition import CompositionOptions

    audio = _speech(tmp_path / "s.wav", 2.0, 31)
    plain = animator.animate(face_image, audio, tmp_path / "plain.mp4", AnimateOptions(sampler=FAST))
    eyes = CompositionOptions(blink_rate=60, gaze_x=0.5)
    blinking = animator.animate(face_image, audio, tmp_path / "blink.mp4", AnimateOptions(sampler=FAST,
                                                                                          composition=eyes))
    assert blinking.cache_hits["motion"] and blinking.n_frames == plain.n_frames
    assert np.array_equal(blinking.motion.exp, plain.motion.exp)  # the saved motion is the generated one
    frames, plain_frames = _streams(blinking.path)[4], _streams(plain.path)[4]
    assert any(not np.array_equal(a, b) for a, b in zip(frames, plain_frames, strict=True))


def test_a_saved_motion_drives_an_image_as_the_original_run_did(animator, face_image, tmp_path) -> None:
    from model.audio.decode import load_audio
    from model.motion.files import MotionFileError, load_motion, save_motion

    audio = _speech(tmp_path / "s.wav", 1.2, 22)
    samples = load_audio(audio)
    first = animator.animate(face_image, audio, tmp_path / "first.mp4", AnimateOptions(sampler=FAST))
    for suffix in (".npz", ".safetensors"):
        saved = load_motion(save_motion(tmp_path / f"m{suffix}", first.motion, samples, {"seed": 0}))
        saved.check_audio(samples)
        again = Animator(animator.weights_dir, device="cpu").animate(
            face_image, audio, tmp_path / f"again{suffix}.mp4",
            AnimateOptions(sampler=FAST, driving_motion=saved.motion))
        assert np.array_equal(again.motion.exp, first.motion.exp)
        assert all(np.array_equal(a, b) for a, b in zip(_streams(again.path)[4], _streams(first.path)[4],
                                                        strict=True))
        assert saved.settings == {"seed": 0}
    other = _picture(tmp_path / "other.png", image_with_faces(400, 400, [(100, 100, 180)]))
    assert animator.animate(other, audio, tmp_path / "other.mp4", AnimateOptions(
        sampler=FAST, driving_motion=saved.motion)).n_frames == first.n_frames
    with pytest.raises(MotionFileError, match="made for another audio"):
        saved.check_audio(load_audio(_speech(tmp_path / "t.wav", 1.2, 23)))
    saved.check_audio(samples[:100], force=True)


@pytest.mark.parametrize(("name", "content", "words"), [
    ("m.pkl", b"\x80\x04N.", "ends in .npz or .safetensors"),
    ("m.npz", b"not a zip", "not a readable motion file"),
    ("pickled.npz", None, "not a readable motion file"),
    ("shape.npz", "shape", "expected an expression array of shape (frames, 21, 3)"),
])
def test_bad_motion_files_are_refused(tmp_path, name, content, words) -> None:
    from model.motion.files import MotionFileError, load_motion

    path = tmp_path / name
    if content is None:  # an object array: only a pickle could read it
        np.savez(path, exp=np.array([{"a": 1}], dtype=object), meta_format=np.array("joyvasa-motion-1"))
    elif content == "shape":
        np.savez(path, exp=np.zeros((10, 20, 3), np.float32), meta_format=np.array("joyvasa-motion-1"))
    else:
        path.write_bytes(content)
    with pytest.raises(MotionFileError, match=re.escape(words)):
        load_motion(path)


def test_command_line_controls_and_motion_files(small_weights, face_image, tmp_path, capsys) -> None:
    audio = str(_speech(tmp_path / "s.wav", 1.0, 24))
    common = ["--image", str(face_image), "--audio", audio, "--weights", str(small_weights), "--no-cache",
              "--device", "cpu", "--sampler", "ddim", "--steps", "3"]
    saved = tmp_path / "motion.safetensors"
    assert main(["animate", *common, "--out", str(tmp_path / "a.mp4"), "--pose-scale", "0.5", "--lip-scale", "1.3",
                 "--expression-scale", "0.8", "--sync-offset-ms", "80", "--blink-rate", "20", "--eye-open", "0.9",
                 "--gaze-x", "0.2", "--gaze-y", "-0.1", "--save-motion", str(saved)]) == 0
    assert saved.is_file() and "motion saved" in capsys.readouterr().out
    assert main(["animate", *common, "--out", str(tmp_path / "b.mp4"), "--motion", str(saved)]) == 0
    other = str(_speech(tmp_path / "t.wav", 1.0, 25))
    code = main(["animate", *common[:2], "--audio", other, *common[4:], "--out", str(tmp_path / "c.mp4"),
                 "--motion", str(saved)])
    assert code == 2 and "made for another audio" in capsys.readouterr().err
    assert not (tmp_path / "c.mp4").exists()
    assert main(["animate", *common[:2], "--audio", other, *common[4:], "--out", str(tmp_path / "c.mp4"),
                 "--motion", str(saved), "--force"]) == 0
