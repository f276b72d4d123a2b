"""Where the official weight files come from, and what each one must be.

Every file has a place in the official ``pretrained_weights/`` layout that JoyVASA's README
documents (so an existing JoyVASA folder works as is), a source on the Hugging Face Hub at a
pinned commit, and, where it could be established, its size in bytes and sha256 (the manifest:
:data:`FILES`). Resolution order:

1. a local directory: the ``weights_dir`` argument, else the ``JOYVASA_WEIGHTS`` environment
   variable; every needed file must be there (nothing is mixed in from elsewhere);
2. the Hub through ``huggingface_hub`` at the pinned revisions below, downloading only the files
   the chosen mode needs into the standard Hugging Face cache (``HF_HOME``/``HF_HUB_CACHE``);
   with ``HF_HUB_OFFLINE=1`` only the cache is consulted;
3. otherwise :class:`MissingWeightsError`, listing each missing file, why the Hub did not give it
   (offline, not found, gated, network error) and how to get it.

Every file found is checked against the manifest before it is used: a wrong size or sha256 raises
:class:`WeightMismatchError` naming the file, the expected and the found value, so an upstream swap
of the weights can never silently change results. A local folder may carry its own manifest
(``weights_manifest.json``, which ``make-test-weights`` writes); its entries replace the built-in
ones for that folder. The sha256 of a large file is computed once and remembered by path, size and
modification time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

WEIGHTS_ENV = "JOYVASA_WEIGHTS"
HUMAN, ANIMAL = "human", "animal"
MODES = (HUMAN, ANIMAL)
#: The motion generator's files: the renderer and the face models work without them (e.g. preparing training
#: data, which reads videos with the motion extractor only).
GENERATOR_FILES = ("motion_generator", "motion_template", "hubert_config")
#: A local folder's own manifest (see the module docstring).
LOCAL_MANIFEST = "weights_manifest.json"
MANIFEST_FORMAT = "joyvasa-weights-manifest-1"


@dataclass(frozen=True)
class HubRepo:
    """A Hub model repository at a fixed commit."""

    repo_id: str
    revision: str


#: The official LivePortrait weights (moved here from KwaiVGI/LivePortrait; human and animal files).
LIVEPORTRAIT = HubRepo("KlingTeam/LivePortrait", "82a4fa6735ca58432b6ce39301b4b9ee066dea47")
#: JoyVASA's current release: the second motion generator (414,067,833 bytes) and the 45-key template.
JOYVASA = HubRepo("jdh-algo/JoyVASA", "b8f13fe9c23679c56f21b1baafb92ed00dc087c3")
HUBERT = HubRepo("TencentGameMate/chinese-hubert-base", "fce0375452b1dd6c080ac3248d423d4d037bc831")
#: OpenAI CLIP ViT-B/32, only its text encoder: X-Pose's prompt embeddings are computed from it once (and
#: cached) when LivePortrait's precomputed embedding files are not at hand.
CLIP = HubRepo("openai/clip-vit-base-patch32", "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268")
GITHUB_LIVEPORTRAIT = "https://github.com/KwaiVGI/LivePortrait/blob/main"


@dataclass(frozen=True)
class WeightFile:
    """One file: its name in code, its path in the official local layout, its Hub source, and what it must be.

    size / sha256: the expected byte count and digest (None where they could not be established).
    required: a mode cannot run without it. on_hub: False for files only looked for locally (``url`` says
    where they are). on_demand: not part of a mode's resolution; fetched by :func:`fetch_file` only when
    needed (the CLIP files, needed only when no prompt embeddings exist).
    """

    key: str
    local_path: str
    repo: HubRepo
    hub_path: str
    modes: frozenset[str]
    size: int | None = None
    sha256: str | None = None
    required: bool = True
    on_hub: bool = True
    on_demand: bool = False
    url: str | None = None

    @property
    def how_to_get(self) -> str:
        return self.url or f"https://huggingface.co/{self.repo.repo_id}/blob/{self.repo.revision}/{self.hub_path}"


BOTH = (HUMAN, ANIMAL)


def _lp(key: str, path: str, modes: Iterable[str], size: int, sha256: str, required: bool = True) -> WeightFile:
    return WeightFile(key, path, LIVEPORTRAIT, path, frozenset(modes), size, sha256, required)


#: The files of the CLIP repository the text encoder and its tokenizer need.
CLIP_TEXT_FILES = ("config.json", "pytorch_model.bin", "vocab.json", "merges.txt", "tokenizer_config.json",
                   "special_tokens_map.json")
#: (size, sha256) of the renderer networks. The human files and the InsightFace detectors are listed with
#: these values, pinned to the LIVEPORTRAIT commit, by two independent downloaders and by the files' own Git LFS
#: pointers. The animal files (JoyVASA uses the v1.0 set in ``liveportrait_animals/base_models``) are read from
#: the LFS pointers of a Hub copy of that folder; same architecture, same byte counts as the human ones.
_RENDERER = {
    HUMAN: {
        "appearance_feature_extractor": (3387959, "5279bb8654293dbdf327030b397f107237dd9212fb11dd75b83dfb635211ceb5"),
        "motion_extractor": (112545506, "251e6a94ad667a1d0c69526d292677165110ef7f0cf0f6d199f0e414e8aa0ca5"),
        "warping_module": (182180086, "2f61a6f265fe344f14132364859a78bdbbc2068577170693da57fb96d636e282"),
        "spade_generator": (221813590, "4780afc7909a9f84e24c01d73b31a555ef651521a1fe3b2429bd04534d992aee"),
    },
    ANIMAL: {
        "appearance_feature_extractor": (3387959, "e2cd1d5d67c0457229e9736d401d39225e096895b869f34234978082561af6de"),
        "motion_extractor": (112545506, "63c0d450099ef6ebece788ab711cb012509712e23fd1200b79fb65ef980adbb9"),
        "warping_module": (182180086, "c9719ea184ca9da059f4eee8a8c8c7c6bd46a2b1e40a241ea5490cc42ce6b79b"),
        "spade_generator": (221813590, "7fafa1e31c7c72c9384310d679e32af3fbf214e241fb657df8c3b18ad826f336"),
    },
}
_MODE_FOLDER = {HUMAN: "liveportrait", ANIMAL: "liveportrait_animals"}
#: X-Pose's prompt embeddings as LivePortrait (and JoyVASA) keep them in their source trees, not on the Hub;
#: (size, sha256) computed from both repositories' files, which are identical.
_EMBEDDINGS = {
    9: (10923, "4982ea59b74a72fa210f544d20540cb94cd3912f3824d3df3a6feb30b1d2633b"),
    68: (71352, "a7face6b75009a4d29290a7a2ba8ce888057036e658e91cfe8482a67abcb06f1"),
}

#: Every file the system uses (the manifest). Renderer configs are optional and local only: official trees
#: have none and use the official sizes; trees from ``make-test-weights --size small`` carry one. The template
#: and the HuBERT and CLIP configuration files have no established size or digest (their loaders check their
#: contents instead).
FILES: tuple[WeightFile, ...] = (
    *(
        _lp(f"{mode}.{name}", f"{_MODE_FOLDER[mode]}/base_models/{name}.pth", [mode], size, sha)
        for mode, networks in _RENDERER.items()
        for name, (size, sha) in networks.items()
    ),
    # Animal mode uses the human stitching module, as the official code does ("temporarily").
    _lp("stitching", "liveportrait/retargeting_models/stitching_retargeting_module.pth", BOTH, 2393098,
        "3652d5a3f95099141a56986aaddec92fadf0a73c87a20fac9a2c07c32b28b611"),
    *(
        WeightFile(f"{mode}.renderer_config", f"{folder}/renderer_config.json", LIVEPORTRAIT,
                   f"{folder}/renderer_config.json", frozenset([mode]), required=False, on_hub=False,
                   url="python -m model make-test-weights (test trees only)")
        for mode, folder in _MODE_FOLDER.items()
    ),
    _lp("landmark", "liveportrait/landmark.onnx", [HUMAN], 114666491,
        "31d22a5041326c31f19b78886939a634a5aedcaa5ab8b9b951a1167595d147db", required=False),
    _lp("det_10g", "insightface/models/buffalo_l/det_10g.onnx", [HUMAN], 16923827,
        "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91", required=False),
    _lp("2d106det", "insightface/models/buffalo_l/2d106det.onnx", [HUMAN], 5030888,
        "f001b856447c413801ef5c42091ed0cd516fcd21f2d6b79635b1e733a7109dbf", required=False),
    _lp("xpose", "liveportrait_animals/xpose.pth", [ANIMAL], 435089171,
        "bf58e5a3c4a3a017198edc69e33f89c9a37adc856fe6b1776059b2d4a524a7dd", required=False),
    *(
        WeightFile(f"xpose.embedding_{n}", f"liveportrait_animals/clip_embedding_{n}.pkl", LIVEPORTRAIT,
                   f"src/utils/resources/clip_embedding_{n}.pkl", frozenset([ANIMAL]), size, sha, required=False,
                   on_hub=False, url=f"{GITHUB_LIVEPORTRAIT}/src/utils/resources/clip_embedding_{n}.pkl")
        for n, (size, sha) in _EMBEDDINGS.items()
    ),
    *(
        WeightFile(f"clip.{name}", f"clip-vit-base-patch32/{name}", CLIP, name, frozenset([ANIMAL]), required=False,
                   on_demand=True)
        for name in CLIP_TEXT_FILES
    ),
    WeightFile(
        "motion_generator", "JoyVASA/motion_generator/motion_generator_hubert_chinese.pt", JOYVASA,
        "motion_generator/motion_generator_hubert_chinese.pt", frozenset(BOTH), 414067833,
        "9dd869329725caedf5f0c13dd383abec1e385f566d8afe2047b141f604844e80",
    ),
    WeightFile(
        "motion_template", "JoyVASA/motion_template/motion_template.pkl", JOYVASA,
        "motion_template/motion_template.pkl", frozenset(BOTH),
    ),
    WeightFile("hubert_config", "chinese-hubert-base/config.json", HUBERT, "config.json", frozenset(BOTH)),
)
FILES_BY_KEY = {f.key: f for f in FILES}

#: Other local names the same file has: the Linux JoyVASA folder name of HuBERT (with a colon), and the prompt
#: embeddings in the source tree of a JoyVASA or LivePortrait checkout whose ``pretrained_weights/`` is the root.
LOCAL_ALIASES = {
    "hubert_config": ("TencentGameMate:chinese-hubert-base/config.json",),
    **{f"xpose.embedding_{n}": (f"../src/utils/resources/clip_embedding_{n}.pkl",) for n in _EMBEDDINGS},
}


class MissingWeightsError(FileNotFoundError):
    """Required weight files could not be found locally, in the cache, or on the Hub.

    ``missing``: the files; ``causes``: per file key, why the Hub did not give it (Hub mode only).
    """

    def __init__(self, missing: list[WeightFile], where: str, causes: Mapping[str, str] | None = None) -> None:
        self.missing = missing
        self.causes = dict(causes or {})
        lines = "\n".join(
            f"  - {f.local_path}   ({f.how_to_get})" + (f": {self.causes[f.key]}" if f.key in self.causes else "")
            for f in missing
        )
        super().__init__(
            f"Missing weight files ({where}):\n{lines}\n"
            f"Either put an official JoyVASA 'pretrained_weights/' folder somewhere and set {WEIGHTS_ENV} to it "
            "(layout as above), or let the files download from the Hugging Face Hub (needs network access and "
            "HF_HUB_OFFLINE unset). For offline tests: python -m model make-test-weights DIR, then "
            f"{WEIGHTS_ENV}=DIR."
        )


class WeightMismatchError(ValueError):
    """A weight file is not the one the manifest pins (wrong size or sha256)."""

    def __init__(self, file: WeightFile, what: str, expected: str, found: str) -> None:
        self.file = file
        super().__init__(
            f"{file.local_path} is not the pinned file: expected {what} {expected}, found {found}. It is incomplete, "
            f"damaged or another release; replace it with the official file ({file.how_to_get}) or delete it so it "
            "downloads again."
        )


@dataclass(frozen=True)
class Expected:
    """What a file must be: byte count and sha256, each None when unknown."""

    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class WeightPaths:
    """Resolved local paths for one mode, by :attr:`WeightFile.key`; optional files may be absent.

    weights_dir: the local folder in force (None: the Hub cache); download: whether on-demand files may be
    downloaded (see :func:`fetch_file`).
    """

    mode: str
    paths: dict[str, Path]
    source: str
    weights_dir: Path | None = None
    download: bool = True

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


@dataclass(frozen=True)
class TrainedGenerator:
    """A motion generator of one's own (``python -m model.train fit``) to use instead of the released one.

    checkpoint: an official-format file (``RUN/checkpoints/iter_0001000.pt``); template: the motion template of
    its training data (``DATA/template.pkl``; None: the released one); hubert_config: its audio encoder's
    ``config.json`` (None: the run's own ``RUN/hubert_config.json`` when there is one, else the released one).
    """

    checkpoint: Path
    template: Path | None = None
    hubert_config: Path | None = None

    def __post_init__(self) -> None:
        for name in ("checkpoint", "template", "hubert_config"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"motion generator {name.replace('_', ' ')} {Path(path).name}: no such file")
        if self.hubert_config is None:
            beside = Path(self.checkpoint).resolve().parent.parent / "hubert_config.json"
            if beside.is_file():
                object.__setattr__(self, "hubert_config", beside)

    @property
    def replaced(self) -> dict[str, Path]:
        """The weight keys this generator's files replace."""
        files = {"motion_generator": self.checkpoint, "motion_template": self.template,
                 "hubert_config": self.hubert_config}
        return {k: Path(v) for k, v in files.items() if v is not None}

    def apply(self, paths: WeightPaths) -> WeightPaths:
        """``paths`` with this generator's files in place of the released ones."""
        return dataclasses.replace(paths, paths={**paths.paths, **self.replaced})


def files_for(mode: str) -> list[WeightFile]:
    """The files a mode resolves (on-demand files excluded)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    return [f for f in FILES if mode in f.modes and not f.on_demand]


def local_weights_dir(weights_dir: str | Path | None = None) -> Path | None:
    """The local weights directory in force (argument, else ``$JOYVASA_WEIGHTS``), or None."""
    chosen = weights_dir or os.environ.get(WEIGHTS_ENV)
    return Path(chosen).expanduser() if chosen else None


# ---------------------------------------------------------------------------------------------
# Finding files


def _find_local(root: Path, f: WeightFile) -> Path | None:
    for rel in (f.local_path, *LOCAL_ALIASES.get(f.key, ())):
        if (root / rel).is_file():
            return root / rel
    return None


def hub_failure(exc: BaseException) -> str:
    """Why the Hub did not give a file, in words (offline, not found, gated, network error)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, GatedRepoError):
        return "gated repository: accept its conditions on the Hub and log in (HF_TOKEN)"
    if isinstance(exc, RepositoryNotFoundError):
        return "repository not found on the Hub (removed, renamed or private)"
    if isinstance(exc, RevisionNotFoundError):
        return "the pinned revision is not on the Hub"
    if isinstance(exc, LocalEntryNotFoundError):
        if constants.HF_HUB_OFFLINE:
            return "offline (HF_HUB_OFFLINE=1) and not in the local Hub cache"
        return "not in the local Hub cache and the Hub could not be reached (network error)"
    if isinstance(exc, EntryNotFoundError):
        return "the file is not in the repository at the pinned revision"
    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return f"the Hub answered with an error (HTTP {status})" if status else "the Hub answered with an error"
    return f"network error ({type(exc).__name__})"


def _from_hub(f: WeightFile, download: bool) -> tuple[Path | None, str]:
    """(the cached file, "") downloading it if allowed, else (None, why not). Never asks for a file the Hub
    does not hold (``on_hub=False``)."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    if not f.on_hub:
        return None, "not on the Hub"
    if not download:
        found = try_to_load_from_cache(f.repo.repo_id, f.hub_path, revision=f.repo.revision)
        return (Path(found), "") if isinstance(found, str) else (None, "not in the local Hub cache")
    try:
        if try_to_load_from_cache(f.repo.repo_id, f.hub_path, revision=f.repo.revision) is None:
            size = f"{f.size / 1e6:,.1f} MB" if f.size else "size unknown"
            log.info("downloading %s from %s@%s (%s)", f.hub_path, f.repo.repo_id, f.repo.revision[:7], size)
        return Path(hf_hub_download(f.repo.repo_id, f.hub_path, revision=f.repo.revision)), ""
    except Exception as exc:  # every Hub failure becomes a reason in the missing-files message
        return None, hub_failure(exc)


# ---------------------------------------------------------------------------------------------
# Checking files


def _digest_memo() -> Path:
    from model.cache import default_cache_dir

    return default_cache_dir() / "verified_weights.json"


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered by (resolved path, size, mtime) so a large file is hashed once."""
    real = path.resolve()
    info = real.stat()
    stamp = [info.st_size, info.st_mtime_ns]
    memo_path = _digest_memo()
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    entry = memo.get(str(real)) if isinstance(memo, dict) else None
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    h = hashlib.sha256()
    with real.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    digest = h.hexdigest()
    if not isinstance(memo, dict):
        memo = {}
    memo[str(real)] = {"stamp": stamp, "sha256": digest}
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_name(f".{memo_path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(memo))
        tmp.replace(memo_path)
    except OSError as exc:
        log.info("could not remember the digest of %s (%s)", real.name, exc)
    return digest


def read_local_manifest(root: Path) -> dict[str, Expected]:
    """A local folder's own manifest (``weights_manifest.json``) by file key; {} when it has none."""
    path = root / LOCAL_MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        by_path = {f.local_path: f.key for f in FILES}
        return {
            by_path[local]: Expected(entry.get("size"), entry.get("sha256"))
            for local, entry in data["files"].items()
            if local in by_path
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{LOCAL_MANIFEST} in the weights folder is malformed ({exc}); fix or delete it") from exc


def write_local_manifest(root: Path, keys: Iterable[str], note: str) -> Path:
    """Record the size and sha256 of the files ``keys`` present under ``root`` as its own manifest."""
    files = {}
    for key in keys:
        f = FILES_BY_KEY[key]
        path = root / f.local_path
        if path.is_file():
            files[f.local_path] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    target = root / LOCAL_MANIFEST
    target.write_text(json.dumps({"format": MANIFEST_FORMAT, "note": note, "files": files}, indent=1))
    return target


def expected(f: WeightFile, overrides: Mapping[str, Expected] | None = None) -> Expected:
    """What ``f`` must be: the folder's own manifest entry when it has one, else the built-in one."""
    if overrides and f.key in overrides:
        return overrides[f.key]
    return Expected(f.size, f.sha256)


def verify_file(f: WeightFile, path: Path, want: Expected, digest: bool = True) -> None:
    """Raise :class:`WeightMismatchError` unless ``path`` has the expected size (and sha256, when ``digest``)."""
    size = path.stat().st_size
    if want.size is not None and size != want.size:
        raise WeightMismatchError(f, "a size of", f"{want.size:,} bytes", f"{size:,} bytes")
    if digest and want.sha256 is not None:
        found = file_sha256(path)
        if found != want.sha256:
            raise WeightMismatchError(f, "sha256", want.sha256, found)


# ---------------------------------------------------------------------------------------------
# Resolution


def _where(root: Path | None) -> str:
    return f"local folder ${WEIGHTS_ENV}" if root is not None else "Hugging Face Hub / cache"


def resolve(
    mode: str,
    weights_dir: str | Path | None = None,
    download: bool = True,
    verify: bool = True,
    expect: Mapping[str, Expected] | None = None,
    skip: Collection[str] = (),
) -> WeightPaths:
    """Find every file ``mode`` needs (but the keys in ``skip``) and check it against the manifest.

    Raises :class:`MissingWeightsError` when a required file is absent and :class:`WeightMismatchError` when a
    file is not the pinned one. ``download=False`` only looks (local folder or Hub cache) and never touches the
    network; ``verify=False`` checks sizes only (no hashing). ``expect``: manifest entries by file key that
    replace the built-in ones (default: the local folder's own manifest, if any).
    """
    wanted = [f for f in files_for(mode) if f.key not in skip]
    root = local_weights_dir(weights_dir)
    overrides = dict(expect) if expect is not None else (read_local_manifest(root) if root is not None else {})
    paths: dict[str, Path] = {}
    missing: list[WeightFile] = []
    causes: dict[str, str] = {}
    for f in wanted:
        if root is not None:
            found, cause = _find_local(root, f), ""
        else:
            found, cause = _from_hub(f, download)
        if found is not None:
            verify_file(f, found, expected(f, overrides), digest=verify)
            paths[f.key] = found
        elif f.required:
            missing.append(f)
            if cause:
                causes[f.key] = cause
    if missing:
        raise MissingWeightsError(missing, _where(root), causes)
    return WeightPaths(mode, paths, _where(root), root, download)


def fetch_file(key: str, paths: WeightPaths) -> Path | None:
    """An on-demand file (e.g. ``clip.config.json``) from where ``paths`` came from, checked; None when it
    cannot be had (the reason is logged)."""
    f = FILES_BY_KEY[key]
    if paths.weights_dir is not None:
        found, cause = _find_local(paths.weights_dir, f), "not in the local folder"
        overrides = read_local_manifest(paths.weights_dir)
    else:
        (found, cause), overrides = _from_hub(f, paths.download), {}
    if found is None:
        log.info("%s unavailable: %s", f.local_path, cause)
        return None
    verify_file(f, found, expected(f, overrides))
    return found


@dataclass(frozen=True)
class FileStatus:
    """A file's presence; ``problem`` says why a present file is unusable (wrong size), else None."""

    file: WeightFile
    path: Path | None
    problem: str | None = None

    @property
    def present(self) -> bool:
        return self.path is not None

    @property
    def usable(self) -> bool:
        return self.path is not None and self.problem is None


def status(weights_dir: str | Path | None = None) -> list[FileStatus]:
    """Presence of every known file, looking only (local folder or Hub cache, no network, no hashing)."""
    root = local_weights_dir(weights_dir)
    try:
        overrides = read_local_manifest(root) if root is not None else {}
    except ValueError:
        overrides = {}
    result = []
    for f in FILES:
        path = _find_local(root, f) if root is not None else _from_hub(f, False)[0]
        problem = None
        if path is not None:
            try:
                verify_file(f, path, expected(f, overrides), digest=False)
            except WeightMismatchError as exc:
                problem = str(exc)
        result.append(FileStatus(f, path, problem))
    return result
