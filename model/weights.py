"""Where the official weight files come from.

Every file has a place in the official ``pretrained_weights/`` layout that JoyVASA's README
documents (so an existing JoyVASA folder works as is) and a source on the Hugging Face Hub.
Resolution order:

1. a local directory: the ``weights_dir`` argument, else the ``JOYVASA_WEIGHTS`` environment
   variable; every needed file must be there (nothing is mixed in from elsewhere);
2. the Hub through ``huggingface_hub`` at the pinned revisions below, downloading only the files
   the chosen mode needs into the standard Hugging Face cache (``HF_HOME``/``HF_HUB_CACHE``);
   with ``HF_HUB_OFFLINE=1`` only the cache is consulted;
3. otherwise :class:`MissingWeightsError`, listing each missing file and how to get it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_ENV = "JOYVASA_WEIGHTS"
HUMAN, ANIMAL = "human", "animal"
MODES = (HUMAN, ANIMAL)


@dataclass(frozen=True)
class HubRepo:
    """A Hub model repository at a fixed revision."""

    repo_id: str
    revision: str


# The HuBERT config is pinned to a commit. The LivePortrait and JoyVASA repositories are not
# (yet): their 40-hex commits could not be verified from this offline workplace, so they follow
# "main"; set the commits here once checked against the Hub.
LIVEPORTRAIT = HubRepo("KwaiVGI/LivePortrait", "main")
JOYVASA = HubRepo("jdh-algo/JoyVASA", "main")
HUBERT = HubRepo("TencentGameMate/chinese-hubert-base", "fce0375452b1dd6c080ac3248d423d4d037bc831")
#: OpenAI CLIP ViT-B/32, only its text encoder: X-Pose's prompt embeddings are computed from it once (and
#: cached) when LivePortrait's precomputed embedding files are not at hand.
CLIP = HubRepo("openai/clip-vit-base-patch32", "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268")


@dataclass(frozen=True)
class WeightFile:
    """One file: its name in code, its path in the official local layout, and its Hub source."""

    key: str
    local_path: str
    repo: HubRepo
    hub_path: str
    modes: frozenset[str]
    required: bool = True
    #: Files that are not on the Hub (``on_hub=False``) are only looked for locally; ``url`` says where they are.
    on_hub: bool = True
    url: str | None = None

    @property
    def how_to_get(self) -> str:
        return self.url or f"https://huggingface.co/{self.repo.repo_id}/blob/{self.repo.revision}/{self.hub_path}"


def _lp(key: str, path: str, modes: Iterable[str], required: bool = True) -> WeightFile:
    return WeightFile(key, path, LIVEPORTRAIT, path, frozenset(modes), required)


#: The files of the CLIP repository the text encoder and its tokenizer need.
CLIP_TEXT_FILES = ("config.json", "pytorch_model.bin", "vocab.json", "merges.txt", "tokenizer_config.json",
                   "special_tokens_map.json")
_NETWORKS = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")
BOTH = (HUMAN, ANIMAL)

#: Every file the system uses. Renderer configs are optional: official trees have none and use
#: the official sizes; trees from ``make-test-weights --size small`` carry one.
FILES: tuple[WeightFile, ...] = (
    *(_lp(f"human.{n}", f"liveportrait/base_models/{n}.pth", [HUMAN]) for n in _NETWORKS),
    *(_lp(f"animal.{n}", f"liveportrait_animals/base_models/{n}.pth", [ANIMAL]) for n in _NETWORKS),
    # Animal mode uses the human stitching module, as the official code does ("temporarily").
    _lp("stitching", "liveportrait/retargeting_models/stitching_retargeting_module.pth", BOTH),
    _lp("human.renderer_config", "liveportrait/renderer_config.json", [HUMAN], required=False),
    _lp("animal.renderer_config", "liveportrait_animals/renderer_config.json", [ANIMAL], required=False),
    _lp("landmark", "liveportrait/landmark.onnx", [HUMAN], required=False),
    _lp("det_10g", "insightface/models/buffalo_l/det_10g.onnx", [HUMAN], required=False),
    _lp("2d106det", "insightface/models/buffalo_l/2d106det.onnx", [HUMAN], required=False),
    _lp("xpose", "liveportrait_animals/xpose.pth", [ANIMAL], required=False),
    # X-Pose's prompt embeddings as LivePortrait ships them (in its source tree, src/utils/resources, not on the
    # Hub): used when copied here, otherwise computed from the CLIP text encoder below.
    *(
        WeightFile(f"xpose.embedding_{n}", f"liveportrait_animals/clip_embedding_{n}.pkl", LIVEPORTRAIT,
                   f"src/utils/resources/clip_embedding_{n}.pkl", frozenset([ANIMAL]), required=False, on_hub=False,
                   url=f"https://github.com/KwaiVGI/LivePortrait/blob/main/src/utils/resources/clip_embedding_{n}.pkl")
        for n in (9, 68)
    ),
    *(
        WeightFile(f"clip.{name}", f"clip-vit-base-patch32/{name}", CLIP, name, frozenset([ANIMAL]), required=False)
        for name in CLIP_TEXT_FILES
    ),
    WeightFile(
        "motion_generator",
        "JoyVASA/motion_generator/motion_generator_hubert_chinese.pt",
        JOYVASA,
        "motion_generator/motion_generator_hubert_chinese.pt",
        frozenset(BOTH),
    ),
    WeightFile(
        "motion_template", "JoyVASA/motion_template/motion_template.pkl", JOYVASA,
        "motion_template/motion_template.pkl", frozenset(BOTH),
    ),
    WeightFile("hubert_config", "chinese-hubert-base/config.json", HUBERT, "config.json", frozenset(BOTH)),
)

#: Other local names the same file has in existing JoyVASA folders (the Linux one has a colon).
LOCAL_ALIASES = {"hubert_config": ("TencentGameMate:chinese-hubert-base/config.json",)}


class MissingWeightsError(FileNotFoundError):
    """Required weight files could not be found locally, in the cache, or on the Hub."""

    def __init__(self, missing: list[WeightFile], where: str) -> None:
        self.missing = missing
        lines = "\n".join(f"  - {f.local_path}   ({f.how_to_get})" for f in missing)
        super().__init__(
            f"Missing weight files ({where}):\n{lines}\n"
            f"Either put an official JoyVASA 'pretrained_weights/' folder somewhere and set {WEIGHTS_ENV} to it "
            "(layout as above), or let the files download from the Hugging Face Hub (needs network access and "
            "HF_HUB_OFFLINE unset). For offline tests: python -m model make-test-weights DIR, then "
            f"{WEIGHTS_ENV}=DIR."
        )


@dataclass(frozen=True)
class WeightPaths:
    """Resolved local paths for one mode, by :attr:`WeightFile.key`; optional files may be absent."""

    mode: str
    paths: dict[str, Path]
    source: str

    def __getitem__(self, key: str) -> Path:
        return self.paths[key]

    def get(self, key: str) -> Path | None:
        return self.paths.get(key)

    def network(self, name: str) -> Path:
        """Path of a renderer network of this mode, e.g. ``network('warping_module')``."""
        return self.paths[f"{self.mode}.{name}"]

    @property
    def renderer_config(self) -> Path | None:
        return self.paths.get(f"{self.mode}.renderer_config")

    @property
    def clip_dir(self) -> Path | None:
        """The folder holding every CLIP text-encoder file (local layout or Hub snapshot), or None."""
        found = [self.paths.get(f"clip.{name}") for name in CLIP_TEXT_FILES]
        if any(p is None for p in found) or len({p.parent for p in found}) != 1:
            return None
        return found[0].parent


def files_for(mode: str) -> list[WeightFile]:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    return [f for f in FILES if mode in f.modes]


def local_weights_dir(weights_dir: str | Path | None = None) -> Path | None:
    """The local weights directory in force (argument, else ``$JOYVASA_WEIGHTS``), or None."""
    chosen = weights_dir or os.environ.get(WEIGHTS_ENV)
    return Path(chosen).expanduser() if chosen else None


def _find_local(root: Path, f: WeightFile) -> Path | None:
    for rel in (f.local_path, *LOCAL_ALIASES.get(f.key, ())):
        if (root / rel).is_file():
            return root / rel
    return None


def _from_hub(f: WeightFile, download: bool) -> Path | None:
    """The cached file, downloading it if allowed; None when it cannot be had."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    if not f.on_hub:
        return None
    if not download:
        found = try_to_load_from_cache(f.repo.repo_id, f.hub_path, revision=f.repo.revision)
        return Path(found) if isinstance(found, str) else None
    try:
        return Path(hf_hub_download(f.repo.repo_id, f.hub_path, revision=f.repo.revision))
    except (LocalEntryNotFoundError, EntryNotFoundError, HfHubHTTPError, OSError):
        return None


def resolve(mode: str, weights_dir: str | Path | None = None, download: bool = True) -> WeightPaths:
    """Find every file ``mode`` needs; raise :class:`MissingWeightsError` if a required one is absent.

    ``download=False`` only looks (local folder or Hub cache) and never touches the network.
    """
    wanted = files_for(mode)
    root = local_weights_dir(weights_dir)
    paths: dict[str, Path] = {}
    missing: list[WeightFile] = []
    for f in wanted:
        found = _find_local(root, f) if root is not None else _from_hub(f, download)
        if found is not None:
            paths[f.key] = found
        elif f.required:
            missing.append(f)
    where = f"local folder {root}" if root is not None else "Hugging Face Hub / cache"
    if missing:
        raise MissingWeightsError(missing, where)
    return WeightPaths(mode, paths, where)


@dataclass(frozen=True)
class FileStatus:
    file: WeightFile
    path: Path | None

    @property
    def present(self) -> bool:
        return self.path is not None


def status(weights_dir: str | Path | None = None) -> list[FileStatus]:
    """Presence of every known file, looking only (local folder or Hub cache, no network)."""
    root = local_weights_dir(weights_dir)
    return [FileStatus(f, _find_local(root, f) if root is not None else _from_hub(f, False)) for f in FILES]
