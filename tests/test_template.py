"""Motion template: restricted unpickling (35/45 keys, numpy<2 files), decoding and EMA smoothing (golden f4)."""

from __future__ import annotations

import io
import os
import pickle
import pickletools

import numpy as np
import pytest
import torch

from model.motion.sequence import MotionSequence, decode_motion, ema, smooth_motion
from model.motion.template import (
    MotionTemplate,
    TemplateError,
    load_motion_template,
    read_template_stats,
    save_motion_template,
)
from model.rotation import get_rotation_matrix
from tests.golden import load_case
from tests.motion_fixtures import assert_sequence_matches, golden_template, template_stats


def globals_named(data: bytes) -> list[str]:
    """Module paths of the globals a pickle names (STACK_GLOBAL operands and GLOBAL args)."""
    text = io.StringIO()
    pickletools.dis(data, out=text)
    return [line for line in text.getvalue().splitlines() if "numpy" in line]


@pytest.mark.parametrize("with_lip_and_eyes", [True, False], ids=["45-key", "35-key"])
def test_saved_template_is_numpy1_style_and_loads(tmp_path, with_lip_and_eyes):
    stats = template_stats(with_lip_and_eyes)
    assert len(stats) == (45 if with_lip_and_eyes else 35)
    path = tmp_path / "motion_template.pkl"
    save_motion_template(stats, path)
    names = globals_named(path.read_bytes())
    assert any("'numpy.core.multiarray'" in line for line in names)
    assert not any("numpy._core" in line for line in names), "must be the path numpy < 2 writes"
    loaded = read_template_stats(path)
    assert loaded.keys() == stats.keys()
    for key, value in stats.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == np.float32
    template = load_motion_template(path)
    np.testing.assert_array_equal(template.mean_exp, stats["mean_exp"])
    np.testing.assert_array_equal(
        template.pose_max, np.concatenate([stats[f"max_{k}"] for k in ("scale", "t", "pitch", "yaw", "roll")])
    )


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_numpy_pickles_load(tmp_path, protocol):
    stats = template_stats()
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps(stats, protocol=protocol))
    assert read_template_stats(path).keys() == stats.keys()


class _Exploit:
    def __reduce__(self):
        return os.system, ("echo pwned > /dev/null",)


@pytest.mark.parametrize(
    "payload",
    [
        {"mean_exp": _Exploit()},
        _Exploit(),
        {"mean_exp": np.zeros(63, np.float32), "hook": eval},
    ],
    ids=["dict-with-reduce", "top-level-reduce", "builtin-eval"],
)
def test_malicious_pickles_are_refused(tmp_path, payload):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(TemplateError, match="not allowed"):
        load_motion_template(path)


def test_malformed_templates_are_refused(tmp_path):
    with pytest.raises(TemplateError, match="not found"):
        load_motion_template(tmp_path / "missing.pkl")
    cases = {
        "garbage.pkl": (b"not a pickle at all", "not a readable"),
        "list.pkl": (pickle.dumps([np.zeros(3)]), "expected a dict"),
        "strings.pkl": (pickle.dumps({"mean_exp": "zero"}), "not numeric arrays"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(TemplateError, match=message):
            load_motion_template(tmp_path / name)
    partial = template_stats()
    del partial["max_yaw"]
    save_motion_template(partial, tmp_path / "partial.pkl")
    with pytest.raises(TemplateError, match="max_yaw"):
        load_motion_template(tmp_path / "partial.pkl")
    wrong = template_stats()
    wrong["mean_exp"] = np.zeros(60, np.float32)
    with pytest.raises(TemplateError, match="sizes"):
        MotionTemplate.from_stats(wrong)


def test_decode_layout_and_smoothing_rules():
    stats = template_stats()
    template = MotionTemplate.from_stats(stats)
    coef = np.random.default_rng(1).normal(size=(40, 76)).astype(np.float32)  # m = 76: dims 70+ unused
    seq = decode_motion(torch.from_numpy(coef), template, fps=25)
    assert len(seq) == 40 and seq.fps == 25
    np.testing.assert_array_equal(seq.exp.reshape(40, 63), coef[:, :63] * stats["std_exp"] + stats["mean_exp"])
    span = stats["max_yaw"] - stats["min_yaw"]
    np.testing.assert_array_equal(seq.yaw, coef[:, 68:69] * span + stats["min_yaw"])
    np.testing.assert_array_equal(seq.t, coef[:, 64:67] * (stats["max_t"] - stats["min_t"]) + stats["min_t"])
    expected_R = get_rotation_matrix(*(torch.from_numpy(a) for a in (seq.pitch, seq.yaw, seq.roll))).numpy()
    np.testing.assert_array_equal(seq.R, expected_R)

    smooth = smooth_motion(seq)
    np.testing.assert_array_equal(smooth.exp, seq.exp)
    np.testing.assert_array_equal(smooth.pose()[0], seq.pose()[0])
    expected = seq.pose()[0]
    for k in range(1, 40):
        expected = np.float32(0.01) * seq.pose()[k] + np.float32(0.99) * expected
    np.testing.assert_allclose(smooth.pose()[-1], expected, rtol=1e-6)
    assert np.abs(np.diff(smooth.yaw, axis=0)).max() < np.abs(np.diff(seq.yaw, axis=0)).max()
    resmoothed_R = get_rotation_matrix(*(torch.from_numpy(a) for a in (smooth.pitch, smooth.yaw, smooth.roll)))
    np.testing.assert_array_equal(smooth.R, resmoothed_R.numpy())
    assert ema(np.zeros((0, 7), np.float32)).shape == (0, 7)
    with pytest.raises(ValueError, match="coefficients"):
        decode_motion(coef[:, :60], template, fps=25)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        MotionSequence(exp=seq.exp, scale=seq.scale[:-1], t=seq.t, pitch=seq.pitch, yaw=seq.yaw, roll=seq.roll,
                       R=seq.R, fps=25)


@pytest.mark.golden
def test_golden_f4_decoding_and_smoothing(tmp_path):
    case = load_case("f4_motion_sequence.npz")
    template = golden_template(case, tmp_path)
    raw = decode_motion(case["coef"], template, fps=case.manifest()["args"]["fps"])
    assert_sequence_matches(case, "raw", raw)
    assert_sequence_matches(case, "smooth", smooth_motion(raw))
