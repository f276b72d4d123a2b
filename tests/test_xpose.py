"""X-Pose: structure against the official manifest, small-config behaviour, the runner's selection and
preprocessing, safe loading, test weights, and animal mode wired to it."""

from __future__ import annotations

import argparse
import os
import pickle

import numpy as np
import pytest
import torch

from model.checkpoint import CheckpointError
from model.face.detector import CascadeFaceDetector, build_detector
from model.face.source_crop import CropOptions, crop_source
from model.face.xpose.checkpoint import computed_keys, load_xpose, save_xpose, shared_keys
from model.face.xpose.config import FULL, SMALL
from model.face.xpose.detect import XPoseDetector, draw_keypoints
from model.face.xpose.model import TextPrompt, UniPose, XPoseOutput
from model.face.xpose.prompts import FACE_68, read_embeddings, write_embeddings
from model.face.xpose.runner import network_size, nms, preprocess, select_instance
from model.face.xpose.swin import relative_position_index
from model.testweights import recipe
from model.testweights.writer import xpose_state_dict
from model.weights import resolve
from tests.face_fixtures import image_with_faces
from tests.golden import load_manifest
from tests.helpers import assert_matches_manifest


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("xpose_small") / "xpose.pth"
    save_xpose(xpose_state_dict(SMALL, 3), path, SMALL)
    return path


@pytest.fixture(scope="module")
def small_net(small_file):
    return load_xpose(small_file)


def _prompt(n: int, seed: int = 0) -> TextPrompt:
    return TextPrompt(torch.from_numpy(4 * recipe.tensor("t.inst", (1, 512), seed)),
                      torch.from_numpy(4 * recipe.tensor(f"t.kpt{n}", (n, 512), seed)))


def test_full_state_dict_equals_the_official_manifest():
    manifest = load_manifest("xpose.json")
    with torch.device("meta"):
        net = UniPose(FULL)
    assert_matches_manifest(net, manifest)
    assert list(net.state_dict()) == list(manifest["entries"])
    assert sum(p.numel() for p in net.parameters()) == manifest["param_count"]
    aliases = {k: e["alias_of"] for k, e in manifest["entries"].items() if e["init"] == "alias"}
    assert shared_keys(net) == aliases
    assert computed_keys(net) == [k for k, e in manifest["entries"].items() if e["init"] == "computed"]


def test_relative_position_index_formula():
    index = relative_position_index(7)
    for p in (0, 8, 24, 48):
        for q in (0, 13, 30, 48):
            (r1, c1), (r2, c2) = divmod(p, 7), divmod(q, 7)
            assert index[p, q] == (r1 - r2 + 6) * 13 + (c1 - c2 + 6)
    assert index.min() == 0 and index.max() == 168


@pytest.mark.parametrize(("size", "expected"), [
    ((640, 480), (1066, 800)), ((450, 600), (800, 1066)), ((800, 1200), (800, 1200)), ((2000, 800), (1332, 533)),
])
def test_network_size(size, expected):
    assert network_size(*size) == expected


def test_preprocess_is_pil_bilinear_then_imagenet_normalisation():
    from PIL import Image

    image = recipe.image_u8(37, 50, 1)
    pixels = preprocess(image)
    resized = np.asarray(Image.fromarray(image).resize((1081, 800), Image.BILINEAR), np.float32) / np.float32(255)
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    np.testing.assert_array_equal(pixels[0].numpy(), ((resized - mean) / std).transpose(2, 0, 1))


def _reference_nms(boxes: np.ndarray, scores: torch.Tensor, threshold: float) -> list[int]:
    """torchvision's CPU kernel, scalar by scalar."""
    order = scores.sort(0, descending=True)[1].tolist()
    area = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
    suppressed, keep = set(), []
    for a, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            w = max(np.float32(0), min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
            h = max(np.float32(0), min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
            if w * h / (area[i] + area[j] - w * h) > threshold:
                suppressed.add(j)
    return keep


@pytest.mark.parametrize("threshold", [0.0, 0.3])
def test_nms_matches_the_cpu_kernel(threshold):
    xy = recipe.tensor("nms.xy", (40, 2), 0, "uniform")
    wh = 0.05 + 0.2 * recipe.tensor("nms.wh", (40, 2), 0, "uniform")
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = torch.from_numpy(np.round(recipe.tensor("nms.s", (40,), 0, "uniform"), 1))  # with ties
    assert nms(torch.from_numpy(boxes), scores, threshold).tolist() == _reference_nms(boxes, scores, threshold)


def test_the_pick_follows_atens_tie_order_not_argmax():
    """Saturated scores (logit >= 16.64 gives sigmoid exactly 1.0) tie; the official pick is the first index
    of torch's non-stable descending sort (spec §12)."""
    g, k = 50, 68
    logits = torch.full((1, g, 350), float("-inf"))
    logits[0, :, 0] = torch.linspace(17.0, 30.0, g)  # all saturate; argmax would be the last
    boxes = torch.tensor([0.5, 0.5, 0.2, 0.2]).repeat(1, g, 1)
    keypoints = torch.rand(1, g, 3 * k)
    out = XPoseOutput(logits, boxes, keypoints, image=None, decoder=None)
    picked = select_instance(out, 0, 9, 640, 480)
    first = int(torch.ones(g).sort(0, descending=True)[1][0])
    assert picked.query == first
    if torch.__version__.startswith("2.13."):
        assert picked.query == 38  # the spec's measured value on this torch
    assert picked.nms_keep.tolist() == [first]  # IoU 0: every other (identical) box is suppressed
    np.testing.assert_array_equal(picked.landmarks, keypoints[0, first, :18].numpy().reshape(9, 2) * [640, 480])
    assert picked.landmarks.dtype == np.float64


def test_small_model_batch_and_sizes(small_net):
    """Any image size (odd, either orientation), and a batch equals its images run one by one."""
    prompt = _prompt(9)
    images = [torch.from_numpy(recipe.image((1, 3, 101, 133), s)) for s in (1, 2)]
    with torch.no_grad():
        single = [small_net(x, prompt) for x in images]
        batch = small_net(torch.cat(images), prompt)
        tall = small_net(torch.from_numpy(recipe.image((1, 3, 157, 75), 3)), _prompt(68))
    cfg = SMALL
    assert batch.pred_keypoints.shape == (2, cfg.num_groups, 3 * cfg.num_keypoints)
    assert tall.pred_boxes.shape == (1, cfg.num_groups, 4)
    for i, one in enumerate(single):
        torch.testing.assert_close(batch.pred_boxes[i], one.pred_boxes[0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(batch.pred_keypoints[i], one.pred_keypoints[0], rtol=1e-4, atol=1e-5)
    for out in (batch, tall):
        assert torch.all(torch.isfinite(out.pred_logits[..., 0])) and torch.all(torch.isinf(out.pred_logits[..., 1:]))
        assert torch.all((out.pred_keypoints >= 0) & (out.pred_keypoints <= 1))


def test_small_model_group_mask_separates_padded_keypoints(small_net):
    """With 9 of 68 keypoints, the padded keypoint queries cannot influence the box and the 9 real keypoints
    (group mask); with 68 they all take part."""
    import copy

    image = torch.from_numpy(recipe.image((1, 3, 96, 96), 5))
    changed = copy.deepcopy(small_net)
    with torch.no_grad():
        changed.transformer.decoder.hw_append.weight.add_(1.0)  # sizes of keypoints 17..67 only
        for n, same in ((9, True), (68, False)):
            prompt = _prompt(n)
            enc = small_net.encode(image, prompt.instance)
            a, b = small_net.decode(enc, prompt.keypoints), changed.decode(enc, prompt.keypoints)
            real = slice(0, 2 * n)
            assert torch.equal(a.pred_keypoints[..., real], b.pred_keypoints[..., real]) == same
            assert torch.equal(a.pred_boxes, b.pred_boxes) == same


def test_loader_strictness(small_file, tmp_path):
    state = torch.load(small_file, weights_only=True)
    sd, config = state["model"], state["xpose_config"]

    def save(model_sd, **extra):
        path = tmp_path / f"x{len(list(tmp_path.iterdir()))}.pth"
        torch.save({"model": model_sd, "xpose_config": config, **extra}, path)
        return path

    ok = load_xpose(save({f"module.{k}": v for k, v in sd.items()}, args=argparse.Namespace(lr=1e-4)))
    assert not ok.training
    with pytest.warns(UserWarning, match="not used by X-Pose"):
        load_xpose(save({**sd, "clip.extra": torch.zeros(2)}))
    missing = {k: v for k, v in sd.items() if k != "transformer.tgt_embed.weight"}
    with pytest.raises(CheckpointError, match="tgt_embed"):
        load_xpose(save(missing))
    # Only the canonical name of a shared MLP is enough; a disagreeing copy is an error.
    aliases = shared_keys(UniPose(SMALL))
    canonical_only = {k: v for k, v in sd.items() if k not in aliases}
    torch.testing.assert_close(load_xpose(save(canonical_only)).state_dict(), ok.state_dict())
    alias = next(iter(aliases))
    with pytest.raises(CheckpointError, match="different values"):
        load_xpose(save({**sd, alias: sd[alias] + 1}))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_safe_loading_refuses_code(tmp_path):
    bad = tmp_path / "xpose.pth"
    torch.save({"model": {}, "payload": _Exploit()}, bad)
    with pytest.raises(CheckpointError, match="refused to unpickle"):
        load_xpose(bad)
    bad_pkl = tmp_path / "clip_embedding_9.pkl"
    bad_pkl.write_bytes(pickle.dumps((_Exploit(), torch.zeros(1))))
    with pytest.raises(CheckpointError, match="not allowed"):
        read_embeddings(bad_pkl)


def test_embeddings_in_the_official_cuda_pickle_format(tmp_path, monkeypatch):
    """The official files hold fp16 tensors saved on cuda:0 (legacy storage bytes): read on CPU, no CUDA."""
    prompt = _prompt(68)
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    path = tmp_path / "clip_embedding_68.pkl"
    write_embeddings(prompt, path)
    monkeypatch.undo()
    assert b"cuda:0" in path.read_bytes()
    back = read_embeddings(path)
    assert back.instance.dtype == torch.float32 and back.keypoints.shape == (len(FACE_68), 512)
    torch.testing.assert_close(back.keypoints, prompt.keypoints.half().float(), rtol=0, atol=0)


def test_draw_keypoints():
    image = np.zeros((100, 120, 3), np.uint8)
    drawn = draw_keypoints(image, np.array([[10.0, 20.0]] * 9), box=np.array([5, 5, 50, 60]))
    assert drawn.shape == image.shape and not image.any()
    assert drawn[20, 10].any() and drawn[5, 30].any()


def test_make_test_weights_animal_mode_crops_with_xpose(small_weights):
    paths = resolve("animal", small_weights, download=False)
    assert load_xpose(paths["xpose"]).config == SMALL
    assert read_embeddings(paths["xpose.embedding_9"]).keypoints.shape == (9, 512)
    detector = build_detector(paths, animal=True, device="cpu")
    assert isinstance(detector, XPoseDetector)
    image = image_with_faces(360, 480, [(150, 60, 200)])
    result = crop_source(image, "animal", detector=detector)
    assert result.method == "landmarks" and "X-Pose" in result.note and "9 X-Pose keypoints" in result.note
    assert result.face.animal_lmk.shape == (9, 2) and result.face.animal_lmk.dtype == np.float64
    manual = crop_source(image, "animal", CropOptions(box=(100, 50, 120, 120)), detector)
    assert manual.method == "box" and manual.face.detector == "manual"


def test_animal_mode_falls_back_without_xpose(small_weights, tmp_path):
    paths = resolve("animal", small_weights, download=False)
    without = type(paths)(paths.mode, {k: v for k, v in paths.paths.items() if k != "xpose"}, paths.source)
    detector = build_detector(without, animal=True)
    assert isinstance(detector, CascadeFaceDetector) and "xpose.pth not found" in detector.name
    result = crop_source(np.zeros((200, 300, 3), np.uint8), "animal", detector=detector)
    assert result.method == "centred" and "X-Pose not used" in result.note


def test_animal_clip_end_to_end_through_the_cli_crops_with_xpose(small_weights, tmp_path, capsys):
    import cv2

    from model.__main__ import main
    from tests.audio_fixtures import write_audio

    image = tmp_path / "cat.png"
    cv2.imwrite(str(image), image_with_faces(360, 480, [(150, 60, 200)])[:, :, ::-1])
    audio = write_audio(tmp_path / "speech.wav", recipe.audio(int(16000 * 1.2), 2)[None], 16000)
    out = tmp_path / "cat.mp4"
    code = main(["animate", "--image", str(image), "--audio", str(audio), "--out", str(out), "--mode", "animal",
                 "--weights", str(small_weights), "--device", "cpu", "--sampler", "ddim", "--steps", "4",
                 "--no-cache"])
    assert code == 0 and out.is_file() and out.stat().st_size > 0
    printed = capsys.readouterr().out
    assert "found by X-Pose" in printed and "9 X-Pose keypoints; landmarks crop" in printed
