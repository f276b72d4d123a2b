"""Crop math, mask, paste-back and landmark-runner pre/post-processing against golden case h.

Crop parameters are read from the calls recorded in ``meta_json``; landmarks and images are the stored inputs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from model.face.crop import crop_image, parse_pt2, parse_rect_from_landmark
from model.face.landmarks import REFINER_SCALE, REFINER_SIZE, REFINER_VY, refiner_input, refiner_output
from model.face.mask import feather_mask
from model.face.paste import TorchPasteBack, paste_back, prepare_paste_back
from tests.golden import load_case

pytestmark = pytest.mark.golden
LAYOUTS = (203, 106)


def call_kwargs(call: str) -> dict[str, float]:
    """Numeric keyword arguments of the first call in a meta ``calls`` description, e.g. ``scale=2.3``."""
    first = call.split(")")[0]
    return {k: float(v) for k, v in re.findall(r"(\w+)=(-?[\d.]+)", first)}


@pytest.fixture(scope="module")
def case():
    return load_case("h_crop.npz")


@pytest.fixture(scope="module")
def crop_params(case):
    rect = call_kwargs(case.meta["calls"]["rect_*"])
    crop = call_kwargs(case.meta["calls"]["crop*_"].split("crop.crop_image(")[1])
    return {"scale": rect["scale"], "vx_ratio": rect["vx_ratio"], "vy_ratio": rect["vy_ratio"],
            "dsize": int(crop["dsize"]), "rotate": "flag_do_rot=True" in case.meta["calls"]["crop*_"]}


@pytest.mark.parametrize("n", LAYOUTS)
def test_anchor_points_and_rect(case, crop_params, n: int) -> None:
    lmk = case[f"lmk{n}"]
    np.testing.assert_array_equal(parse_pt2(lmk), case[f"pt2_{n}"])
    rect = parse_rect_from_landmark(
        lmk, scale=crop_params["scale"], vx_ratio=crop_params["vx_ratio"], vy_ratio=crop_params["vy_ratio"]
    )
    case.assert_close(f"rect_center_{n}", rect.center, rtol=1e-6, atol=1e-4)
    case.assert_close(f"rect_size_{n}", rect.size, rtol=1e-6, atol=1e-4)
    case.assert_close(f"rect_angle_{n}", rect.angle, rtol=1e-6, atol=1e-7)
    # The angle is a Python float in the reference: the same bits, not just close.
    assert np.array([rect.angle], np.float64).view(np.uint64)[0] == case[f"rect_angle_{n}_f64"][0]


@pytest.mark.parametrize("n", LAYOUTS)
def test_crop_matrices_and_points(case, crop_params, n: int) -> None:
    crop = crop_image(case["image"], case[f"lmk{n}"], **crop_params)
    for key, value in (("M_o2c", crop.M_o2c), ("M_c2o", crop.M_c2o), ("pt", crop.points)):
        assert value.dtype == np.float32
        case.assert_close(f"crop{n}_{key}", value, rtol=1e-6, atol=1e-4)


def test_crop_images_equal(case, crop_params) -> None:
    crop = crop_image(case["image"], case["lmk203"], **crop_params)
    np.testing.assert_array_equal(crop.image, case["crop203_img"])
    assert case.meta["calls"]["crop*_"].count("(256,256),interpolation=cv2.INTER_AREA") == 1
    np.testing.assert_array_equal(crop.area_resize(256), case["crop203_img256"])


def test_feather_mask_equals_template(case) -> None:
    template = case["mask_crop"]
    np.testing.assert_array_equal(feather_mask(template.shape[0]), template)


def test_paste_back_opencv_and_torch(case) -> None:
    image, m_c2o = case["image"], case["crop203_M_c2o"]
    prepared = prepare_paste_back(image, m_c2o, crop_size=case["paste_src"].shape[0])
    np.testing.assert_array_equal(prepared.mask, case["crop203_mask_ori_u8"].astype(np.float32) / 255.0)

    pasted = paste_back(case["paste_src"][None], prepared)
    np.testing.assert_array_equal(pasted[0], case["crop203_pasted"])

    torch_paste = TorchPasteBack.from_prepared(prepared, "cpu")
    crops = torch.from_numpy(case["paste_src"])[None]
    for layout in (crops, crops.permute(0, 3, 1, 2)):
        out = torch_paste(layout)[0].numpy()
        case.assert_uint8_close("crop203_pasted", out)
        differing = np.count_nonzero(out != case["crop203_pasted"]) / out.size
        assert differing == 0.0, f"torch paste-back differs from OpenCV on {differing:.5%} of values"


def test_landmark_runner_pre_and_post_processing(case) -> None:
    runner = call_kwargs(case.meta["calls"]["lmkrun_*"].split("crop_image(")[1])
    assert (runner["dsize"], runner["scale"], runner["vy_ratio"]) == (REFINER_SIZE, REFINER_SCALE, REFINER_VY)
    blob, crop = refiner_input(case["image"], case["lmk106"])
    np.testing.assert_array_equal(crop.image, case["lmkrun_img"])
    case.assert_close("lmkrun_M_c2o", crop.M_c2o, rtol=1e-6, atol=1e-4)
    expected_blob = (case["lmkrun_img"].astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    np.testing.assert_array_equal(blob, expected_blob)
    case.assert_close("lmkrun_lmk", refiner_output(case["lmkrun_net_out"], crop), rtol=1e-6, atol=1e-4)
