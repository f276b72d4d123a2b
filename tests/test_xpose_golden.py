"""Golden case x: X-Pose (UniPose, Swin-T) against the official runner on recipe weights (README §8).

Everything (seed, image size, prompt sets, tolerances' inputs, tie counts, float16 keys) comes from the file.
The full-size forward runs once per session: the encoder and the two-stage selection do not depend on the
keypoint prompt, so they are shared by every prompt set and only the decoder runs per set.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import torch

from model.face.crop import crop_image, parse_pt2, parse_rect_from_landmark
from model.face.xpose.checkpoint import load_xpose, save_xpose
from model.face.xpose.config import FULL
from model.face.xpose.runner import preprocess, select_instance
from model.testweights.writer import xpose_state_dict
from tests.golden import load_case

CASE = "x_xpose.npz"
pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def case():
    return load_case(CASE)


def prompt_sets(case) -> dict[str, int]:
    """{"k9": 9, "k68": 68}: the prefixes of the model runs in the file and their keypoint counts."""
    found = (re.fullmatch(r"(k(\d+))_pred_logits", k) for k in case.arrays)
    return {m[1]: int(m[2]) for m in found if m}


def test_preprocessing_matches_runner(case):
    pixels = preprocess(case["image_u8"])
    assert tuple(pixels.shape[2:]) == tuple(case.meta["resized_hw"])
    np.testing.assert_array_equal(pixels.numpy(), case["pixel_values"])


@pytest.mark.parametrize("prefix", ["k9", "k68", "synth9", "synth68"])
def test_crop_from_stored_landmarks(case, prefix):
    """The animal branch of the cropper (dsize 512, scale 2.3, vy -0.125, rotation) on the stored landmarks."""
    lmk = case[f"{prefix}_lmk"]
    crop = crop_image(case["image_u8"], lmk, dsize=512, scale=2.3, vx_ratio=0.0, vy_ratio=-0.125, rotate=True)
    rect = parse_rect_from_landmark(lmk, scale=2.3, vx_ratio=0.0, vy_ratio=-0.125)
    for key, value in [("crop_M_o2c", crop.M_o2c), ("crop_M_c2o", crop.M_c2o), ("crop_pt", crop.points),
                       ("rect_center", rect.center), ("rect_size", rect.size), ("rect_angle", rect.angle),
                       ("pt2", parse_pt2(lmk))]:
        case.assert_close(f"{prefix}_{key}", value, rtol=1e-6, atol=1e-4)
    if f"{prefix}_crop_img" in case:
        np.testing.assert_array_equal(crop.image, case[f"{prefix}_crop_img"])
        np.testing.assert_array_equal(crop.area_resize(), case[f"{prefix}_crop_img256"])
        np.testing.assert_array_equal(
            cv2.resize(crop.image, (256, 256), interpolation=cv2.INTER_AREA), case[f"{prefix}_crop_img256"]
        )


@pytest.fixture(scope="module")
def runs(case, tmp_path_factory):
    """{prefix: XPoseOutput} for every prompt set, from one backbone + encoder pass; the weights go through
    the official file layout and the production loader."""
    path = tmp_path_factory.mktemp("xpose_golden") / "xpose.pth"
    save_xpose(xpose_state_dict(FULL, case.weights_seed), path)
    net = load_xpose(path)
    pixels = torch.from_numpy(case["pixel_values"])
    with torch.no_grad():
        image = net.encode(pixels, torch.from_numpy(case["ins_text_embedding"]))
        return {p: net.decode(image, torch.from_numpy(case[f"kpt_text_embedding_{n}"]))
                for p, n in prompt_sets(case).items()}


def _selection(case, runs, prefix: str, width: int, height: int):
    return select_instance(runs[prefix], 0, prompt_sets(case)[prefix], width, height)


@pytest.mark.slow
def test_selected_indices(case, runs):
    """The discrete choices first: encoder top-k (tied ranks as a set), decoder top-50, NMS, the pick."""
    tied = case.meta["selection_margins"]["enc_topk_900"]["tied_count_selected"]
    height, width = case["image_u8"].shape[:2]
    for prefix, out in runs.items():
        enc_topk = out.image.encoded.enc_topk[0].numpy()
        ref = case[f"{prefix}_enc_topk_900"]
        assert set(enc_topk[:tied].tolist()) == set(ref[:tied].tolist()), prefix
        np.testing.assert_array_equal(enc_topk[tied:], ref[tied:], err_msg=prefix)
        np.testing.assert_array_equal(out.decoder.groups[0].numpy(), case[f"{prefix}_dec_topk_50"], err_msg=prefix)
        picked = _selection(case, runs, prefix, width, height)
        np.testing.assert_array_equal(picked.nms_keep, case[f"{prefix}_nms_keep"], err_msg=prefix)
        assert picked.query == int(case[f"{prefix}_selected_query"]), prefix


@pytest.mark.slow
def test_outputs(case, runs):
    height, width = case["image_u8"].shape[:2]
    for prefix, out in runs.items():
        logits, ref = out.pred_logits.numpy(), case[f"{prefix}_pred_logits"]
        np.testing.assert_array_equal(np.isfinite(logits), np.isfinite(ref), err_msg=f"{prefix} -inf pattern")
        finite = np.isfinite(ref)
        assert np.all(np.abs(logits[finite] - ref[finite]) <= 3e-3 + 1e-4 * np.abs(ref[finite])), prefix
        case.assert_close(f"{prefix}_pred_boxes", out.pred_boxes, rtol=0, atol=5e-5)
        case.assert_close(f"{prefix}_pred_keypoints", out.pred_keypoints, rtol=0, atol=2e-5)
        case.assert_close(f"{prefix}_scores", out.pred_logits[0].sigmoid().max(-1)[0], rtol=1e-4, atol=1e-5)
        case.assert_close(f"{prefix}_enc_class_max", out.image.encoded.enc_scores, rtol=1e-4, atol=1e-3)
        case.assert_close(f"{prefix}_dec1_class_max", out.decoder.box_scores[0], rtol=1e-4, atol=1e-3)
        picked = _selection(case, runs, prefix, width, height)
        assert picked.landmarks.dtype == np.float64
        case.assert_close(f"{prefix}_lmk", picked.landmarks, rtol=0, atol=1e-2)


@pytest.mark.slow
def test_intermediates(case, runs):
    """Backbone (float16 keys), encoder memory, decoder references and states, for the prompt set whose
    intermediates the file stores."""
    (prefix,) = [p for p in runs if f"{p}_memory_text" in case]
    out = runs[prefix]
    for i, feature in enumerate(out.image.backbone):
        case.assert_close(f"backbone_{i}", feature)
    enc = out.image.encoded
    np.testing.assert_array_equal(np.array(enc.shapes), case["spatial_shapes"])
    start = sum(h * w for h, w in enc.shapes[:2])
    case.assert_close(f"{prefix}_memory_text", enc.memory_text, rtol=1e-4, atol=2e-4)
    case.assert_close(f"{prefix}_memory_levels23", enc.memory[:, start:], rtol=1e-4, atol=2e-4)
    case.assert_close(f"{prefix}_ref_enc", enc.ref_enc[None], rtol=0, atol=5e-5)
    case.assert_close(f"{prefix}_init_box_proposal", enc.init_proposals, rtol=0, atol=5e-5)
    for key in case.arrays:
        if m := re.fullmatch(rf"{prefix}_dec_reference_(\d+)", key):
            case.assert_close(key, out.decoder.references[int(m[1])], rtol=0, atol=5e-5)
        if m := re.fullmatch(rf"{prefix}_dec_hs_(\d+)", key):
            case.assert_close(key, out.decoder.hs[int(m[1])], rtol=1e-4, atol=2e-4)
