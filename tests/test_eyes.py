"""Eye controls: the blink schedule, and blinks, a held eye opening and gaze in the composed keypoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.motion.blinks import BLINK_SECONDS, blink_closure, blink_starts
from model.render.composition import (
    EYEBALL_KEYPOINTS,
    GAZE_UNIT,
    CompositionOptions,
    compose_motion,
    driving_keypoints,
    eye_offsets,
)
from model.render.config import StitchingConfig
from model.render.keypoints import EYE_KEYPOINTS
from model.render.stitching import StitchingRetargeting
from tests.helpers import with_recipe_weights
from tests.test_composition import NUM_KP, _motion, _source

FPS = 25


def _events(closure: np.ndarray) -> list[np.ndarray]:
    """The runs of frames with the eyes (partly) closed."""
    closed = np.flatnonzero(closure > 0)
    return np.split(closed, np.flatnonzero(np.diff(closed) > 1) + 1) if len(closed) else []


@pytest.fixture(scope="module")
def stitching() -> StitchingRetargeting:
    return with_recipe_weights(StitchingRetargeting(StitchingConfig()), seed=3)


@pytest.mark.parametrize("seed", range(5))
def test_twenty_blinks_a_minute_over_30_s_give_7_to_13_blinks_each_shutting_the_eyes(seed: int) -> None:
    closure = blink_closure(30 * FPS, FPS, 20, seed)
    events = _events(closure)
    assert 7 <= len(events) <= 13
    for frames in events:
        assert closure[frames].max() == 1.0  # every blink shuts the eyes on at least one frame
        assert len(frames) / FPS <= BLINK_SECONDS[1] + 2 / FPS
    for start, duration in blink_starts(30, 20, seed):
        assert BLINK_SECONDS[0] <= duration <= BLINK_SECONDS[1] and 0 <= start < 30
    assert closure.min() == 0.0 and closure.max() == 1.0 and closure.dtype == np.float32


def test_blink_schedule_is_seeded_and_zero_rate_is_no_blink() -> None:
    assert np.array_equal(blink_closure(500, FPS, 15, 7), blink_closure(500, FPS, 15, 7))
    assert not np.array_equal(blink_closure(500, FPS, 15, 7), blink_closure(500, FPS, 15, 8))
    assert not blink_closure(500, FPS, 0, 7).any()
    with pytest.raises(ValueError, match="blink rate must be from 0 to 60"):
        blink_closure(500, FPS, 61, 0)


def test_blinks_move_the_keypoints_on_blink_frames_only(stitching: StitchingRetargeting) -> None:
    source, motion = _source(), _motion(frames=40)
    closure = blink_closure(40, FPS, 60, 3)
    assert 0 < (closure > 0).sum() < 40
    plain = driving_keypoints(stitching, source, motion, CompositionOptions())
    blinking = driving_keypoints(stitching, source, motion, CompositionOptions(blink_rate=60), closure)
    moved = (blinking - plain).abs().amax(dim=(1, 2))
    assert torch.equal(moved == 0, torch.from_numpy(closure == 0))  # exactly unchanged between blinks
    # The more closed, the further the keypoints move from the open eyes.
    shut, half = int(np.argmax(closure)), int(np.argmin(np.abs(closure - 0.5)))
    assert 0 < closure[half] < 1 and moved[shut] > moved[half] > 0


def test_eye_open_holds_the_sources_eyes_and_sets_the_opening(stitching: StitchingRetargeting) -> None:
    source, motion = _source(), _motion()
    still = dict(pose_scale=0.0, driving_option="pose-friendly")
    held = compose_motion(source, motion, CompositionOptions(**still, eye_open=1.0))
    eyes = list(EYE_KEYPOINTS)
    # The generated eye motion is dropped: with a still head the eye rows are the source's, frame after frame.
    torch.testing.assert_close(held[:, eyes], source.x_s[:, eyes].expand(len(motion), -1, -1), atol=2e-5, rtol=0)
    assert (compose_motion(source, motion, CompositionOptions(**still))[:, eyes] - held[:, eyes]).abs().max() > 1e-3
    as_is = eye_offsets(stitching, source, CompositionOptions(eye_open=1.0), len(motion))
    narrowed = eye_offsets(stitching, source, CompositionOptions(eye_open=0.2), len(motion))
    torch.testing.assert_close(as_is, torch.zeros_like(as_is), atol=1e-6, rtol=0)  # 1: the source's own opening
    assert narrowed.abs().max() > 1e-4  # held the same on every frame:
    torch.testing.assert_close(narrowed, narrowed[:1].expand_as(narrowed), atol=1e-6, rtol=0)


def test_gaze_shifts_the_eyeballs_only(stitching: StitchingRetargeting) -> None:
    source = _source()
    offsets = eye_offsets(stitching, source, CompositionOptions(gaze_x=0.5, gaze_y=-1.0), 3)
    rows = list(EYEBALL_KEYPOINTS)
    others = [k for k in range(NUM_KP) if k not in rows]
    assert not offsets[:, others].any()
    scale = float(source.scale)
    expected = torch.tensor([0.5 * GAZE_UNIT * scale, GAZE_UNIT * scale, 0.0])  # looking down: +y in the image
    torch.testing.assert_close(offsets[:, rows], expected.expand(3, len(rows), 3))


def test_without_eye_controls_nothing_is_added(stitching: StitchingRetargeting) -> None:
    options = CompositionOptions()
    assert not options.controls_eyes and eye_offsets(stitching, _source(), options, 4) is None
    closure = np.ones(FPS, np.float32)  # a schedule without a blink rate is ignored
    assert torch.equal(driving_keypoints(stitching, _source(), _motion(), options, closure[:5]),
                       driving_keypoints(stitching, _source(), _motion(), options))


def test_eye_controls_are_validated_and_human_only() -> None:
    for field, value, message in (("blink_rate", -1, "blink rate must be from 0 to 60"),
                                  ("eye_open", 1.5, "eye opening must be from 0 to 1"),
                                  ("gaze_x", float("nan"), "gaze x must be a finite number"),
                                  ("gaze_y", 2, "gaze y must be from -1 to 1")):
        with pytest.raises(ValueError, match=message):
            CompositionOptions(**{field: value})
    with pytest.raises(ValueError, match="for human faces"):
        CompositionOptions(mode="animal", blink_rate=15)
