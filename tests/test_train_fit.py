"""Training end to end on CPU with the small sizes: prepare (videos of any frame rate; refused ones with their
reason; resumable; the template equal to a direct computation), fit (loss falls, checkpoints load in inference,
resume is bit for bit, torchrun with two processes equals one), and the checkpoint layout of the released file."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from model.__main__ import main as model_main
from model.audio.decode import load_audio
from model.face.image import SourceImage
from model.motion.checkpoint import load_motion_generator, save_motion_generator
from model.motion.generate import generate_motion
from model.motion.sampler import SamplerConfig
from model.motion.template import load_motion_template, read_template_stats
from model.pipeline import AnimateOptions, Animator
from model.rotation import get_rotation_matrix
from model.train.__main__ import main
from model.train.data import CLIPS_DIR, ClipDataset, load_clip, raw_motion
from model.train.fit import HUBERT_CONFIG, FitConfig, build_model, checkpoint_args
from model.weights import TrainedGenerator
from tests.audio_fixtures import write_audio
from tests.face_fixtures import image_with_faces
from tests.golden import load_manifest
from tests.train_fixtures import talking_video

ROOT = Path(__file__).resolve().parent.parent
FIT = ["--size", "small", "--batch-size", "2", "--device", "cpu", "--val-every", "1000"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    videos = tmp_path_factory.mktemp("videos")
    talking_video(videos / "a25.mp4", 4.2, 25, seed=1)
    talking_video(videos / "b30.mp4", 2.0, 30, seed=2)
    talking_video(videos / "c_variable.mp4", 2.0, 25, seed=3, variable=True)
    talking_video(videos / "mute.mp4", 2.0, 25, sound=False)
    talking_video(videos / "wall.mp4", 2.0, 25, face=False)
    talking_video(videos / "blink.mp4", 0.6, 25, seed=4)
    (videos / "notes.mp4").write_bytes(b"not a video at all")
    return videos


@pytest.fixture(scope="module")
def data(videos, small_weights, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    assert main(["prepare", "--videos", str(videos), "--out", str(out), "--weights", str(small_weights)]) == 0
    return out


def test_prepare_reads_every_rate_at_25_fps_and_says_why_a_video_was_left_out(data, videos, small_weights,
                                                                              capsys) -> None:
    report = {r["video"]: r for r in json.loads((data / "prepare_report.json").read_text())}
    assert {v: r["status"] for v, r in report.items()} == {
        "a25.mp4": "done", "b30.mp4": "done", "c_variable.mp4": "done", "mute.mp4": "refused",
        "wall.mp4": "refused", "blink.mp4": "refused", "notes.mp4": "refused"}
    assert report["a25.mp4"]["frames"] == 105 and report["b30.mp4"]["frames"] == 50  # 2 s at 30 fps -> 25 fps
    assert report["mute.mp4"]["reason"].startswith("no usable audio")
    assert report["wall.mp4"]["reason"].startswith("no face")
    assert report["blink.mp4"]["reason"].startswith("too short")
    assert report["notes.mp4"]["reason"].startswith("no usable audio")  # not a media file at all
    clips = sorted((data / CLIPS_DIR).glob("*.npz"))
    assert len(clips) == 3
    for path in clips:
        clip = load_clip(path)
        n = len(clip["exp"])
        assert clip["exp"].shape == (n, 21, 3) and clip["t"].shape == (n, 3) and clip["pitch"].shape == (n, 1)
        assert clip["audio"].shape == (n * 640,) and clip["meta"]["fps"] == 25 and len(clip["meta"]["sha256"]) == 64
    # Resumable: a second run skips what is done and rewrites nothing.
    stamps = {p: p.stat().st_mtime_ns for p in clips}
    capsys.readouterr()
    assert main(["prepare", "--videos", str(videos), "--out", str(data), "--weights", str(small_weights)]) == 0
    assert capsys.readouterr().out.count("skipped") == 3
    assert {p: p.stat().st_mtime_ns for p in clips} == stamps


def test_template_is_the_statistics_of_every_frame(data) -> None:
    clips = [load_clip(p) for p in sorted((data / CLIPS_DIR).glob("*.npz"))]
    stats = read_template_stats(data / "template.pkl")
    assert len(stats) == 45
    exp = np.concatenate([c["exp"].reshape(len(c["exp"]), 63) for c in clips]).astype(np.float64)
    yaw = np.concatenate([c["yaw"] for c in clips]).astype(np.float64)
    np.testing.assert_allclose(stats["mean_exp"], exp.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats["std_exp"], exp.std(0), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(stats["max_yaw"], yaw.max(0))
    np.testing.assert_allclose(stats["min_yaw"], yaw.min(0))
    rotations = np.concatenate([get_rotation_matrix(*(torch.from_numpy(c[k]) for k in ("pitch", "yaw", "roll")))
                                .numpy().reshape(-1, 9) for c in clips])
    np.testing.assert_allclose(stats["mean_R"], rotations.mean(0), rtol=1e-4, atol=1e-6)
    # The dataset's items are normalised with it: decoding a normalised clip gives the clip back.
    template = load_motion_template(data / "template.pkl")
    raw = raw_motion(clips[0])
    normalised = template.normalise(raw)
    np.testing.assert_allclose(normalised[:, :63] * template.std_exp + template.mean_exp, raw[:, :63], atol=1e-5)
    split = json.loads((data / "split.json").read_text())
    assert len(split["train"]) == 2 and len(split["test"]) == 1


def test_dataset_cuts_two_chained_clips(data) -> None:
    dataset = ClipDataset(data, "train")
    (audio0, audio1), (motion0, motion1) = dataset.batch([0, 1], np.random.default_rng(0))
    assert audio0.shape == audio1.shape == (2, 64000) and motion0.shape == motion1.shape == (2, 100, 70)


def _overfit(data: Path, run: Path, steps: int) -> list[dict]:
    assert main(["fit", "--data", str(data), "--out", str(run), *FIT, "--batch-size", "2", "--max-steps",
                 str(steps), "--save-every", str(steps), "--lr", "3e-3", "--no-dropout", "--trunc-probs", "0",
                 "0"]) == 0
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_fit_lowers_the_loss_and_its_checkpoint_samples_closer_motion(data, small_weights, tmp_path,
                                                                     monkeypatch) -> None:
    one_clip = tmp_path / "one_clip"  # the same data, one clip to learn
    shutil.copytree(data, one_clip)
    names = sorted(p.stem for p in (data / CLIPS_DIR).glob("*.npz"))
    (one_clip / "split.json").write_text(json.dumps({"train": names[:1], "test": names[1:]}))
    data = one_clip
    records = _overfit(data, tmp_path / "run", 250)
    # Medians: a step's loss depends on its random diffusion step, and an early t makes a spike.
    first = np.median([r["train/total"] for r in records[:10]])
    last = np.median([r["train/total"] for r in records[-20:]])
    assert last <= first / 10, (first, last)
    assert "val/lip_error" in records[-1] and "val/L_simple" in records[-1]
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))  # TensorBoard has them too
    checkpoint = tmp_path / "run" / "checkpoints" / "iter_0000250.pt"
    trained = load_motion_generator(checkpoint, tmp_path / "run" / HUBERT_CONFIG)
    untrained = build_model(FitConfig(size="small"), seed=0).eval()
    dataset = ClipDataset(data, "train")
    clip = dataset.clips[0]
    audio = torch.from_numpy(clip["audio"][:100 * 640])
    gt = raw_motion(clip)[:100]
    errors = []
    for model in (trained, untrained):
        motion = generate_motion(model, dataset.template, audio, SamplerConfig(kind="ddim", num_steps=10, seed=0,
                                                                               cfg_scale=1.0),
                                 smooth=False)
        pred = np.concatenate([motion.exp.reshape(len(motion), -1), motion.pose()], axis=1)[: len(gt)]
        errors.append(float(np.abs(dataset.template.normalise(pred) - dataset.template.normalise(gt)).mean()))
    assert errors[0] < errors[1], errors

    # The trained generator drives the command line's animate, and the motion cache keys follow its file.
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), cv2.cvtColor(image_with_faces(360, 480, [(150, 60, 200)]), cv2.COLOR_RGB2BGR))
    speech = write_audio(tmp_path / "s.wav", clip["audio"][None, :16000], 16000)
    out = tmp_path / "trained.mp4"
    assert model_main(["animate", "--image", str(image), "--audio", str(speech), "--out", str(out), "--weights",
                       str(small_weights), "--no-cache", "--device", "cpu", "--sampler", "ddim", "--steps", "3",
                       "--motion-generator", str(checkpoint), "--motion-template", str(data / "template.pkl")]) == 0
    assert out.is_file()
    picture, samples = SourceImage.read(image), load_audio(speech)
    own = Animator(small_weights, device="cpu", generator=TrainedGenerator(checkpoint, data / "template.pkl"))
    released = Animator(small_weights, device="cpu")
    assert own.cache_keys(picture, samples, AnimateOptions()).motion != released.cache_keys(
        picture, samples, AnimateOptions()).motion
    # The demo takes it from JOYVASA_MOTION_GENERATOR and JOYVASA_MOTION_TEMPLATE.
    from demo.engine import Engine
    from demo.settings import DemoSettings

    monkeypatch.setenv("JOYVASA_CACHE_DIR", str(tmp_path / "cache"))
    settings = DemoSettings.from_env({"JOYVASA_MOTION_GENERATOR": str(checkpoint), "JOYVASA_MOTION_TEMPLATE":
                                      str(data / "template.pkl"), "JOYVASA_OUTPUT_DIR": str(tmp_path / "outputs")})
    assert Engine(settings).animator.trained_generator == own.trained_generator


def test_resume_continues_bit_for_bit(data, tmp_path) -> None:
    common = [*FIT, "--save-every", "2", "--data", str(data)]
    assert main(["fit", "--out", str(tmp_path / "straight"), "--max-steps", "4", *common]) == 0
    assert main(["fit", "--out", str(tmp_path / "resumed"), "--max-steps", "2", *common]) == 0
    assert main(["fit", "--out", str(tmp_path / "resumed"), "--max-steps", "4", "--resume", *common]) == 0
    straight = torch.load(tmp_path / "straight/checkpoints/iter_0000004.pt", weights_only=False)["model"]
    resumed = torch.load(tmp_path / "resumed/checkpoints/iter_0000004.pt", weights_only=False)["model"]
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert main(["fit", "--out", str(tmp_path / "empty"), "--max-steps", "2", "--resume", *common]) == 2


def test_two_processes_give_the_weights_of_one(data, tmp_path) -> None:
    if shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists():
        pytest.fail("torchrun is part of torch and must be installed")
    common = [*FIT, "--data", str(data), "--max-steps", "2", "--save-every", "2", "--no-dropout", "--trunc-probs",
              "0", "0"]
    assert main(["fit", "--out", str(tmp_path / "one"), *common]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    torchrun = str(Path(sys.executable).parent / "torchrun")
    done = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "model.train", "fit", "--out",
                           str(tmp_path / "two"), *common], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    one = torch.load(tmp_path / "one/checkpoints/iter_0000002.pt", weights_only=False)["model"]
    two = torch.load(tmp_path / "two/checkpoints/iter_0000002.pt", weights_only=False)["model"]
    for key in one:
        a, b = two[key], one[key]
        # Attention key biases get no gradient in exact arithmetic (softmax ignores them), only rounding noise,
        # which Adam scales to a full step: those elements are left out.
        if key.endswith("k_proj.bias"):
            continue
        if key.endswith("in_proj_bias"):
            d = len(a) // 3
            a, b = torch.cat([a[:d], a[2 * d :]]), torch.cat([b[:d], b[2 * d :]])
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=key)


def test_a_full_size_checkpoint_has_the_released_keys_shapes_and_args(tmp_path) -> None:
    manifest = load_manifest("motion_generator.json")
    model = build_model(FitConfig(size="full"), seed=0)
    path = save_motion_generator(model, checkpoint_args(model), tmp_path / "iter_0000001.pt", iteration=1)
    with path.open("rb") as f:
        checkpoint = pickle.load(f) if path.suffix == ".pkl" else torch.load(f, weights_only=False)
    aliases = {v.split(" ")[0]: k for k, v in manifest["aliases"].items()}
    state = {aliases.get(k, k): v for k, v in checkpoint["model"].items()}
    assert {k: list(v.shape) for k, v in state.items()} == {k: e["shape"] for k, e in manifest["entries"].items()}
    assert vars(checkpoint["args"]).items() >= manifest["args"].items()
    assert checkpoint["iter"] == 1


def test_prepare_in_parallel_gives_the_same_clips(data, videos, small_weights, tmp_path) -> None:
    out = tmp_path / "parallel"
    assert main(["prepare", "--videos", str(videos), "--out", str(out), "--weights", str(small_weights),
                 "--workers", "2"]) == 0
    serial = {p.name: load_clip(p) for p in (data / CLIPS_DIR).glob("*.npz")}
    parallel = {p.name: load_clip(p) for p in (out / CLIPS_DIR).glob("*.npz")}
    assert serial.keys() == parallel.keys()
    for name, clip in serial.items():
        for key in ("exp", "pitch", "t", "audio"):
            np.testing.assert_allclose(parallel[name][key], clip[key], rtol=1e-5, atol=1e-6, err_msg=name)


def test_fit_reads_its_options_from_a_config_file(data, tmp_path) -> None:
    config = tmp_path / "fit.json"
    config.write_text(json.dumps({"size": "small", "max_steps": 1, "batch_size": 2, "save_every": 1,
                                  "val_every": 1000, "device": "cpu", "lr": 1.0}))
    assert main(["fit", "--data", str(data), "--out", str(tmp_path / "run"), "--config", str(config), "--lr",
                 "1e-4"]) == 0
    assert (tmp_path / "run" / "checkpoints" / "iter_0000001.pt").is_file()
    config.write_text(json.dumps({"learning_speed": 3}))
    with pytest.raises(SystemExit, match="unknown options"):
        main(["fit", "--data", str(data), "--out", str(tmp_path / "run2"), "--config", str(config)])
