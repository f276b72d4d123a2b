"""Golden t1: one iteration of the official train.py (recipe weights, injected draws, dropout 0) reproduced by
:mod:`model.train.step`: losses per clip and in total, x0 predictions, gradients, grad norm, Adam's update.
Tolerances are those the file's description (``t1_training_step.md`` §6) recommends."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from model.motion.checkpoint import load_motion_generator
from model.train.objective import TERMS, LossWeights
from model.train.step import (
    ClipDraws,
    StepDraws,
    TrainingObjective,
    disable_dropout,
    prepare_for_training,
    train_step,
)
from tests.golden import load_case, load_manifest
from tests.motion_weights import positional_encoding_of, write_recipe_checkpoint

pytestmark = [pytest.mark.golden, pytest.mark.slow]


@pytest.fixture(scope="module")
def t1(tmp_path_factory):
    case = load_case("t1_training_step.npz")
    meta, args = case.meta, case.meta["args"]
    manifest = re.search(r"manifests/(\S+?\.json)", meta["weights"])[1]
    path = write_recipe_checkpoint(load_manifest(manifest), int(meta["seed"]),
                                   tmp_path_factory.mktemp("t1") / "generator.pt")
    encoding = " ".join(q for q in meta["quirks_in_effect"] if "positional encoding" in q)
    # Every dropout at 0, as the golden run (its masks cannot be matched).
    model = disable_dropout(prepare_for_training(load_motion_generator(
        path, pe=positional_encoding_of({"positional_encoding": encoding}))))
    objective = TrainingObjective(
        trunc_probs=(args["trunc_prob1"], args["trunc_prob2"]),
        weights=LossWeights(**{name: args[f"l_{name}"] for name in (
            "exp", "exp_vel", "exp_smooth", "head_angle", "head_vel", "head_smooth", "head_trans")}),
        clip_grad=2.0 if args["clip_grad"] else None)  # train.py clips to 2.0 whenever clip_grad is on
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    draws = StepDraws(tuple(ClipDraws(
        truncated=bool(case["draw_trunc_decision"][i]),
        end_idx=torch.from_numpy(case[f"draw_end_idx_clip{i}"]),
        null_audio=torch.from_numpy(case[f"draw_null_mask_clip{i}"]),
        t=torch.from_numpy(case[f"draw_t_clip{i}"]),
        eps=torch.from_numpy(case[f"draw_eps_clip{i}"]),
    ) for i in range(2)))
    audio = tuple(torch.from_numpy(case[f"audio_clip{i}"]) for i in range(2))
    motion = tuple(torch.from_numpy(np.concatenate([case[f"exp_clip{i}"], case[f"pose_clip{i}"]], axis=-1))
                   for i in range(2))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args["lr"])
    grads: dict[str, torch.Tensor] = {}
    norms: dict[str, float] = {}

    def keep_gradients(*_args) -> None:  # after clipping, before the step: undo the clip to compare
        for name, p in model.named_parameters():
            if p.grad is not None:
                grads[name] = p.grad.detach().clone()

    optimizer.register_step_pre_hook(keep_gradients)
    result = train_step(model, optimizer, audio, motion, draws, objective)
    clip_coef = min(1.0, objective.clip_grad / (result.grad_norm + 1e-6))
    for name, grad in grads.items():
        grads[name] = grad / clip_coef
        norms[name] = float(grads[name].double().norm())
    after = dict(model.named_parameters())
    return case, model, result, grads, norms, before, after


def _close(actual: float, reference: np.ndarray, what: str) -> None:
    ref = float(reference)
    assert abs(actual - ref) <= 1e-4 * abs(ref) + 1e-7, f"{what}: {actual} vs {ref}"


def test_t1_trainable_parameters_are_the_official_set(t1) -> None:
    case, model, *_ = t1
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad)
    assert trainable == sorted(case["trainable_keys"].tolist())
    assert frozen == sorted(case["frozen_keys"].tolist())


def test_t1_losses_per_clip_and_in_total(t1) -> None:
    case, _, result, *_ = t1
    for term in TERMS:
        _close(float(result.losses[term].detach()), case[term], term)
        for i, clip in enumerate(result.clip_losses):
            if f"clip{i}_{term}" in case:
                _close(float(clip[term].detach()), case[f"clip{i}_{term}"], f"clip{i} {term}")
    _close(float(result.losses["total"].detach()), case["total"], "total")
    assert "L_head_trans" not in result.clip_losses[0]


def test_t1_predictions_and_context(t1) -> None:
    case, _, result, *_ = t1
    for i in range(2):
        case.assert_close(f"x0_pred_clip{i}", result.x0_pred[i], rtol=1e-4, atol=5e-5)
        case.assert_close(f"audio_feat_clip{i}", result.audio_feat[i], rtol=1e-4, atol=5e-5)
    assert np.array_equal(result.prev_motion.numpy(), case["prev_motion_coef_for_clip1"])
    case.assert_close("prev_audio_feat_for_clip1", result.prev_audio_feat, rtol=1e-4, atol=5e-5)


def test_t1_gradients_norm_and_adam_step(t1) -> None:
    case, _, result, grads, norms, before, after = t1
    assert abs(result.grad_norm - float(case["grad_norm_total"])) <= 3e-4 * float(case["grad_norm_total"])
    names = case["grad_norm_param_names"].tolist()
    ours = np.array([norms[n] for n in names])
    np.testing.assert_allclose(ours, case["grad_norm_per_param"], rtol=1e-4, atol=1e-6)
    assert set(grads) == {n for n in after if n not in set(case["no_grad_keys"].tolist())}
    for j, name in enumerate(case["named_params"].tolist()):
        np.testing.assert_array_equal(before[name].numpy(), case[f"param{j}_before"])
        reference = case[f"param{j}_grad_pre_clip"]
        np.testing.assert_allclose(grads[name].numpy(), reference, rtol=1e-3, atol=1e-4 * np.abs(reference).max())
        np.testing.assert_allclose(after[name].detach().numpy(), case[f"param{j}_after"], rtol=0, atol=1e-5)
