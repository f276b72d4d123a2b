"""The training objective on small random tensors: per-clip terms against plain numpy formulas (float64), the
official quirk against its fix, truncation, and reproducible draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.motion.generator import MotionGeneratorConfig
from model.train.objective import EXP_DIMS, TERMS, LossWeights, clip_losses, step_losses
from model.train.step import StepDraws, TrainingObjective, truncate

N, P, L, M = 3, 10, 20, 70


def _numpy_terms(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray, context: bool) -> dict[str, float]:
    """The spec's formulas, written out independently: masked means of squared errors."""
    def mean(values: np.ndarray, keep: np.ndarray) -> float:
        return float(values[keep].mean())

    out = {"L_simple": mean((gt - pred) ** 2, mask)}
    for name, dims in (("exp", slice(0, 63)), ("head", slice(63, 70))):
        g, p = gt[..., dims], pred[..., dims]
        gv, pv = np.diff(g, axis=1), np.diff(p, axis=1)
        out["L_exp" if name == "exp" else "L_head_angle"] = mean((g - p) ** 2, mask)
        out[f"L_{name}_vel"] = mean((gv - pv) ** 2, mask[:, 1:])
        out[f"L_{name}_smooth"] = mean((pv[:, 1:] - pv[:, :-1]) ** 2, mask[:, 2:])
    if context:
        seq = np.concatenate([gt[:, P - 3 : P, 63:], pred[:, P : P + 3, 63:]], axis=1)
        vel = np.diff(seq, axis=1)
        acc = np.diff(vel, axis=1)
        out["L_head_trans"] = (mean((vel[:, 2:4] - vel[:, 1:3]) ** 2, mask[:, P : P + 2])
                               + mean((acc[:, 1:] - acc[:, :-1]) ** 2, mask[:, P : P + 3]))
    return out


@pytest.mark.parametrize("second", [False, True])
def test_clip_terms_equal_the_formulas(second: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    gt = torch.randn(N, L, M, generator=gen, dtype=torch.float64)
    pred = torch.randn(N, P + L, M, generator=gen, dtype=torch.float64)
    prev = torch.randn(N, P, M, generator=gen, dtype=torch.float64) if second else None
    end = torch.tensor([5, 19, 2])
    ours = clip_losses(gt, pred, prev, end, P)
    window = np.arange(L)[None] < end.numpy()[:, None]
    if second:
        mask = np.concatenate([np.ones((N, P), bool), window], axis=1)
        expected = _numpy_terms(torch.cat([prev, gt], 1).numpy(), pred.numpy(), mask, True)
    else:
        expected = _numpy_terms(gt.numpy(), pred[:, P:].numpy(), window, False)
    assert set(ours) == set(expected)
    for term, value in expected.items():
        assert float(ours[term]) == pytest.approx(value, rel=1e-12), term


def test_a_velocity_term_with_no_frame_kept_is_left_out() -> None:
    gt, pred = torch.randn(1, L, M), torch.randn(1, P + L, M)
    terms = clip_losses(gt, pred, None, torch.tensor([1]), P)  # one frame: no velocity, no acceleration
    assert "L_head_vel" not in terms and "L_head_smooth" not in terms and "L_simple" in terms


def test_the_official_quirk_and_its_fix_differ_only_in_the_expression_terms() -> None:
    def clip(seed: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        return {t: torch.rand((), generator=gen) for t in TERMS}

    first, second = clip(1), clip(2)
    del first["L_head_trans"]
    quirk = step_losses((first, second))
    fixed = step_losses((first, second), per_clip_expression_loss=True)
    for term in TERMS:
        if term in ("L_exp", "L_exp_vel", "L_exp_smooth"):
            assert float(quirk[term]) == pytest.approx(1.5 * float(second[term]))
            assert float(fixed[term]) == pytest.approx((float(first[term]) + float(second[term])) / 2)
        elif term == "L_head_trans":
            assert float(quirk[term]) == float(fixed[term]) == pytest.approx(float(second[term]))
        else:
            assert float(quirk[term]) == float(fixed[term]) == pytest.approx((float(first[term]) +
                                                                              float(second[term])) / 2)
    weights = LossWeights()
    total = sum(weights.of(t) * float(quirk[t]) for t in TERMS)
    assert float(quirk["total"]) == pytest.approx(total, rel=1e-6)


def test_truncation_zeroes_audio_and_motion_from_the_end_frame() -> None:
    audio, motion = torch.ones(2, 64000), torch.ones(2, 100, M)
    audio_in, motion_in = truncate(audio, motion, torch.tensor([3, 99]), fps=25)
    assert audio_in[0, :1920].all() and not audio_in[0, 1920:].any() and not audio_in[1, 63360:].any()
    assert motion_in[0, :3].all() and not motion_in[0, 3:].any() and motion_in[1, :99].all()
    assert EXP_DIMS == 63


def test_draws_are_reproducible_from_one_seed() -> None:
    class Model:  # the draws only read the sizes
        config = MotionGeneratorConfig(motion_feat_dim=M, n_motions=L, n_prev_motions=P, feature_dim=16,
                                       audio_model="hubert", n_diff_steps=50)

    one, two = (StepDraws.sample(Model(), N, TrainingObjective(), torch.Generator().manual_seed(7)) for _ in range(2))
    for a, b in zip(one.clips, two.clips, strict=True):
        assert a.truncated == b.truncated and torch.equal(a.eps, b.eps) and torch.equal(a.t, b.t)
        assert a.eps.shape == (N, L, M) and 1 <= int(a.t.min()) and int(a.t.max()) <= 50
        assert 1 <= int(a.end_idx.min()) and int(a.end_idx.max()) < L


def _official_entry(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    frames = [{"scale": rng.random((1, 1), np.float32), "R": np.eye(3, dtype=np.float32)[None],
               "exp": rng.standard_normal((1, 21, 3)).astype(np.float32), "t": rng.random((1, 3), np.float32),
               "kp": np.zeros((1, 21, 3), np.float32), "x_s": np.zeros((1, 21, 3), np.float32),
               "pitch": np.float32(rng.random()) * np.ones((1, 1), np.float32),
               "yaw": rng.random((1, 1), np.float32), "roll": rng.random((1, 1), np.float32)} for _ in range(n)]
    return {"n_frames": n, "output_fps": 25, "motion": frames,
            "c_eyes_lst": [rng.random((1, 2), np.float32) for _ in range(n)],
            "c_lip_lst": [rng.random((1, 1), np.float32) for _ in range(n)]}


def test_official_data_is_imported_through_a_restricted_unpickler(tmp_path) -> None:
    import json
    import pickle

    from model.train.data import TrainingDataError, load_clip
    from model.train.official import import_official
    from tests.audio_fixtures import write_audio

    source, audio_dir = tmp_path / "official", tmp_path / "wav"
    source.mkdir()
    audio_dir.mkdir()
    entries = {}
    for i, n in enumerate((60, 80, 50)):
        write_audio(audio_dir / f"clip{i}.wav", np.zeros((1, n * 640), np.float32), 16000)
        entries[f"/their/machine/clip{i}.wav"] = _official_entry(n, i)
    (source / "motions.pkl").write_bytes(pickle.dumps(entries, protocol=4))
    names = [{"video_name": f"/v/clip{i}.mp4", "audio_name": f"/their/machine/clip{i}.wav",
              "motion_name": f"/m/clip{i}.pkl"} for i in range(3)]
    (source / "train.json").write_text(json.dumps(names[:2]))
    (source / "test.json").write_text(json.dumps(names[2:]))
    split = import_official(source, tmp_path / "data", audio_root=audio_dir)
    assert split == {"train": ["clip0", "clip1"], "test": ["clip2"]}
    clip = load_clip(tmp_path / "data" / "clips" / "clip1.npz")
    original = entries["/their/machine/clip1.wav"]
    assert clip["exp"].shape == (80, 21, 3) and clip["audio"].shape == (80 * 640,)
    np.testing.assert_array_equal(clip["exp"][3], original["motion"][3]["exp"][0])
    np.testing.assert_array_equal(clip["eye_ratio"][5], original["c_eyes_lst"][5][0])
    assert (tmp_path / "data" / "template.pkl").is_file()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (source / "motions.pkl").write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(TrainingDataError, match="refused or unreadable pickle"):
        import_official(source, tmp_path / "data2", audio_root=audio_dir)
