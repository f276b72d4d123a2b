"""Sizes of the LivePortrait renderer networks.

Defaults are the official ``src/config/models.yaml`` values, so official weights need no config
file. A tree made by ``make-test-weights --size small`` carries a ``renderer_config.json`` beside
its ``base_models/`` folder (keys as in models.yaml), read by :meth:`RendererConfig.from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Build a config dataclass from a dict, refusing unknown keys (a typo must not pass silently)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown config keys {sorted(unknown)}; known: {sorted(names)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@dataclass(frozen=True)
class AppearanceConfig:
    """Appearance feature extractor F: image (B,3,H,W) -> volume (B, reshape_channel, reshape_depth, H/2^n, W/2^n)."""

    image_channel: int = 3
    block_expansion: int = 64
    num_down_blocks: int = 2
    max_features: int = 512
    reshape_channel: int = 32
    reshape_depth: int = 16
    num_resblocks: int = 6


@dataclass(frozen=True)
class MotionExtractorConfig:
    """Motion extractor M: a ConvNeXt-V2 trunk (tiny by default) and seven linear heads."""

    num_kp: int = 21
    num_bins: int = 66
    in_chans: int = 3
    depths: tuple[int, ...] = (3, 3, 9, 3)
    dims: tuple[int, ...] = (96, 192, 384, 768)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MotionExtractorConfig:
        values = dict(values)
        backbone = values.pop("backbone", "convnextv2_tiny")
        if backbone != "convnextv2_tiny":
            raise ValueError(f"motion extractor backbone {backbone!r} is not supported (only convnextv2_tiny)")
        return _from_dict(cls, values)


@dataclass(frozen=True)
class DenseMotionConfig:
    """Dense motion network inside W: hourglass over heatmaps + deformed source features."""

    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    reshape_depth: int = 16
    compress: int = 4


@dataclass(frozen=True)
class WarpingConfig:
    """Warping module W: (feature volume, source kp, driving kp) -> warped 2-D feature map."""

    num_kp: int = 21
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    reshape_channel: int = 32
    estimate_occlusion_map: bool = True
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> WarpingConfig:
        values = dict(values)
        dense = values.pop("dense_motion_params", values.pop("dense_motion", {}))
        values.pop("upscale", None)  # present in models.yaml, unused by the official module
        values.pop("flag_use_occlusion_map", None)
        return dataclasses.replace(_from_dict(cls, values), dense_motion=_from_dict(DenseMotionConfig, dense))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["dense_motion_params"] = out.pop("dense_motion")
        return out


@dataclass(frozen=True)
class SpadeConfig:
    """SPADE generator G: warped features (B, C, h, w) -> image (B, 3, 2h*upscale/2, ...) in [0, 1]."""

    upscale: int = 2
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2


@dataclass(frozen=True)
class MLPConfig:
    """A plain ReLU MLP: input -> hidden... -> output."""

    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int


@dataclass(frozen=True)
class StitchingConfig:
    """The stitching MLP and the lip / eye retargeting MLPs (checkpoint sub-dicts
    ``retarget_shoulder``, ``retarget_mouth``, ``retarget_eye``)."""

    stitching: MLPConfig = MLPConfig(126, (128, 128, 64), 65)
    lip: MLPConfig = MLPConfig(65, (128, 128, 64), 63)
    eye: MLPConfig = MLPConfig(66, (256, 256, 128, 128, 64), 63)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StitchingConfig:
        unknown = set(values) - {"stitching", "lip", "eye"}
        if unknown:
            raise ValueError(f"StitchingConfig: unknown config keys {sorted(unknown)}")
        return cls(**{k: _from_dict(MLPConfig, v) for k, v in values.items()})


#: models.yaml key -> (RendererConfig field, builder)
_SECTIONS = {
    "appearance_feature_extractor_params": ("appearance", lambda d: _from_dict(AppearanceConfig, d)),
    "motion_extractor_params": ("motion_extractor", MotionExtractorConfig.from_dict),
    "warping_module_params": ("warping", WarpingConfig.from_dict),
    "spade_generator_params": ("spade", lambda d: _from_dict(SpadeConfig, d)),
    "stitching_retargeting_module_params": ("stitching", StitchingConfig.from_dict),
}

RENDERER_CONFIG_FILE = "renderer_config.json"
#: Side of the square source image the networks take (the official ``input_shape``).
NETWORK_INPUT_SIZE = 256


@dataclass(frozen=True)
class RendererConfig:
    """Sizes of all five renderer networks (official defaults)."""

    appearance: AppearanceConfig = AppearanceConfig()
    motion_extractor: MotionExtractorConfig = MotionExtractorConfig()
    warping: WarpingConfig = WarpingConfig()
    spade: SpadeConfig = SpadeConfig()
    stitching: StitchingConfig = StitchingConfig()

    @property
    def output_size(self) -> int:
        """Side of the rendered frames in pixels for a 256 input (officially 512): F downsamples by
        2^num_down_blocks, G upsamples twice and then by ``upscale``."""
        return NETWORK_INPUT_SIZE // 2**self.appearance.num_down_blocks * 4 * self.spade.upscale

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RendererConfig:
        """From a models.yaml-style dict; missing sections keep the official defaults."""
        unknown = set(values) - set(_SECTIONS)
        if unknown:
            raise ValueError(f"renderer config: unknown sections {sorted(unknown)}; known: {sorted(_SECTIONS)}")
        return cls(**{_SECTIONS[k][0]: _SECTIONS[k][1](v) for k, v in values.items()})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (name, _) in _SECTIONS.items():
            section = getattr(self, name)
            out[key] = section.to_dict() if hasattr(section, "to_dict") else dataclasses.asdict(section)
        return out

    @classmethod
    def load(cls, directory: Path) -> RendererConfig:
        """Read ``renderer_config.json`` in ``directory`` if present, else the official defaults."""
        path = Path(directory) / RENDERER_CONFIG_FILE
        if not path.is_file():
            return cls()
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: invalid renderer config ({exc}); delete it to use the official sizes") from exc
