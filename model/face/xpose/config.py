"""X-Pose (UniPose, Swin-T) sizes: the official ``UniPose_SwinT.py`` values and a small test config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class SwinConfig:
    """Swin Transformer backbone: patch 4, window ``window``, stages of ``depths`` blocks and ``heads`` heads."""

    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    heads: tuple[int, ...] = (3, 6, 12, 24)
    window: int = 7
    mlp_ratio: float = 4.0
    patch: int = 4

    def channels(self, stage: int) -> int:
        return self.embed_dim * 2**stage


@dataclass(frozen=True)
class XPoseConfig:
    """The detector's sizes (official defaults; spec xpose.md §2.4).

    ``out_stages``: backbone stages fed to the transformer (strides 8/16/32), plus one extra level made by a
    stride-2 conv on the last. ``num_box_layers`` decoder layers refine ``num_queries`` box queries, then
    ``num_groups`` of them are kept and each grows ``num_keypoints`` keypoint queries. ``text_len`` object text
    rows (only the first is real: the prompt "face"), ``kpt_text_rows`` keypoint text rows the runner pads to.
    """

    swin: SwinConfig = field(default_factory=SwinConfig)
    out_stages: tuple[int, ...] = (1, 2, 3)
    num_levels: int = 4
    hidden: int = 256
    heads: int = 8
    ffn: int = 2048
    enc_layers: int = 6
    dec_layers: int = 6
    points: int = 4
    num_queries: int = 900
    num_box_layers: int = 2
    num_groups: int = 50
    num_keypoints: int = 68
    text_dim: int = 512
    text_len: int = 350
    kpt_text_rows: int = 100
    label_book: int = 2000
    pe_temperature: float = 20.0
    short_side: int = 800
    max_side: int = 1333

    def __post_init__(self) -> None:
        if self.dec_layers <= self.num_box_layers:
            raise ValueError("dec_layers must exceed num_box_layers (the keypoint layers come after them)")
        if self.num_levels != len(self.out_stages) + 1:
            raise ValueError("num_levels must be len(out_stages) + 1 (one extra strided level)")
        if self.num_groups > self.num_queries:
            raise ValueError("num_groups cannot exceed num_queries")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> XPoseConfig:
        data = dict(data)
        swin = data.pop("swin", {})
        tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list)}
        swin = SwinConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in swin.items()})
        return cls(swin=swin, **{**data, **tuples})


#: The official detector (64,661,134 parameters).
FULL = XPoseConfig()
#: A tiny detector with every code path of the full one (shifted windows, odd sizes, box and keypoint
#: decoder layers, the fusion and text layers), for fast tests.
SMALL = XPoseConfig(
    swin=SwinConfig(embed_dim=16, depths=(2, 2, 2, 2), heads=(1, 2, 2, 4)),
    hidden=32, heads=4, ffn=64, enc_layers=2, dec_layers=3, num_queries=60, num_groups=6, short_side=160,
    max_side=267,
)
