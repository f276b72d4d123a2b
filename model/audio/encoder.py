"""Construction of the speech encoder (HuBERT or wav2vec2) from a config, never from a download.

The JoyVASA checkpoint carries its own fine-tuned encoder weights (``audio_encoder.*``), so only
the architecture is needed here: a transformers config (the defaults are the base models the
official code uses, e.g. chinese-hubert-base) or a ``config.json`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

EncoderKind = Literal["hubert", "wav2vec2"]
AudioEncoder = HubertModel | Wav2Vec2Model
AudioEncoderConfig = HubertConfig | Wav2Vec2Config

#: The official ``audio_model`` names and the transformers architecture each one builds.
AUDIO_MODELS: dict[str, EncoderKind] = {
    "hubert": "hubert",
    "hubert_zh": "hubert",
    "hubert_zh_ori": "hubert",
    "wav2vec2": "wav2vec2",
    "wav2vec2_ori": "wav2vec2",
}
_CLASSES = {"hubert": (HubertConfig, HubertModel), "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model)}


def encoder_kind(audio_model: str) -> EncoderKind:
    """The architecture behind an official ``audio_model`` name."""
    try:
        return AUDIO_MODELS[audio_model]
    except KeyError:
        raise ValueError(f"unknown audio_model {audio_model!r}; known: {sorted(AUDIO_MODELS)}") from None


def load_encoder_config(audio_model: str, config_path: str | Path | None = None) -> AudioEncoderConfig:
    """The encoder config from a ``config.json`` (a file, or a folder holding one), else the defaults."""
    config_cls, _ = _CLASSES[encoder_kind(audio_model)]
    if config_path is None:
        return config_cls()
    path = Path(config_path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"audio encoder config {path} not found (expected a transformers config.json)")
    return config_cls.from_json_file(str(path))


def build_audio_encoder(audio_model: str, config: AudioEncoderConfig | None = None) -> AudioEncoder:
    """An encoder with the architecture of ``config`` (defaults when None), in eval mode.

    Attention uses PyTorch SDPA (the transformers 5 default); attention maps are never requested.
    """
    config_cls, model_cls = _CLASSES[encoder_kind(audio_model)]
    config = config_cls() if config is None else config
    if not isinstance(config, config_cls):
        raise TypeError(f"audio_model {audio_model!r} needs a {config_cls.__name__}, got {type(config).__name__}")
    return model_cls(config).eval()
