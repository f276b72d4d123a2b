"""Content-addressed cache of computed features on disk (diskcache), storing raw numpy bytes only.

An entry is a dict of numpy arrays under a sha256 hex key built from everything the arrays
depend on (:func:`cache_key` and the three entry builders below). Values are written as ``.npz``
bytes and read with ``allow_pickle=False``; diskcache stores ``bytes`` as they are (an SQLite
BLOB, or a file above 32 KiB) and the disk class here refuses any other value or any entry
marked as pickled, so nothing is ever unpickled, even from a tampered cache folder
(diskcache's CVE-2025-69872 is about its default pickling).

The folder (``$JOYVASA_CACHE_DIR``, else ``~/.cache/joyvasa``) is kept owner-only (0700). The
total size is capped; the least-recently-used entries go first, never the one just stored. A
corrupted entry is dropped and reported as a miss, and any storage failure only costs the
cache, never the caller's run. ``FeatureCache(enabled=False)`` does nothing (``--no-cache``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import re
import sqlite3
import stat
import threading
import time
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import diskcache
import numpy as np
from diskcache.core import MODE_BINARY, MODE_RAW, UNKNOWN

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "JOYVASA_CACHE_DIR"
DEFAULT_SIZE_LIMIT = 2 * 2**30  # 2 GiB: about 200 source images with their 8 MiB feature volume
#: Mixed into every key; bump it when an entry's layout or meaning changes, to orphan old entries.
KEY_SCHEMA = "joyvasa-cache-v1"
_KEY = re.compile(r"[0-9a-f]{64}")
#: Bytes hashed at each end of a weight file by :func:`weights_fingerprint`.
_FINGERPRINT_SPAN = 2**20


def default_cache_dir() -> Path:
    """``$JOYVASA_CACHE_DIR`` if set, else ``~/.cache/joyvasa``."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "joyvasa").expanduser()


# ---------------------------------------------------------------------------------------------
# Keys


def _feed(h: Any, part: object) -> None:
    """Hash one typed part: a type tag, then length-prefixed content, so distinct parts never collide."""

    def chunk(tag: bytes, payload: bytes | memoryview) -> None:
        h.update(tag + len(payload).to_bytes(8, "little"))
        h.update(payload)

    if part is None:
        chunk(b"n", b"")
    elif isinstance(part, bool):  # before int: bool is an int subclass
        chunk(b"b", b"1" if part else b"0")
    elif isinstance(part, int):
        chunk(b"i", str(int(part)).encode())
    elif isinstance(part, float):
        chunk(b"f", float(part).hex().encode())  # exact, unlike repr rounding
    elif isinstance(part, str):
        chunk(b"s", part.encode())
    elif isinstance(part, bytes | bytearray | memoryview):
        chunk(b"y", memoryview(part).cast("B"))
    elif isinstance(part, np.ndarray | np.generic):
        array = np.ascontiguousarray(part)
        if array.dtype.hasobject:
            raise TypeError("object arrays cannot be key parts; give numeric arrays")
        chunk(b"a", f"{array.dtype.str}{array.shape}".encode())
        chunk(b"v", memoryview(array).cast("B"))
    elif isinstance(part, Mapping) or (dataclasses.is_dataclass(part) and not isinstance(part, type)):
        # A dataclass counts as the dict of its fields; dict order is irrelevant (sorted keys).
        if isinstance(part, Mapping):
            items = list(part.items())
        else:
            items = [(f.name, getattr(part, f.name)) for f in dataclasses.fields(part)]
        if not all(isinstance(k, str) for k, _ in items):
            raise TypeError("dict key parts must have str keys")
        chunk(b"d", str(len(items)).encode())
        for name, value in sorted(items, key=lambda kv: kv[0]):
            _feed(h, name)
            _feed(h, value)
    elif isinstance(part, list | tuple):
        chunk(b"l", str(len(part)).encode())
        for item in part:
            _feed(h, item)
    else:
        raise TypeError(
            f"cannot key on {type(part).__name__}; use bytes, str, int, float, bool, None, numpy arrays, "
            "or dicts/lists/dataclasses of them"
        )


def cache_key(*parts: object) -> str:
    """sha256 hex key of typed parts: bytes, str, int, float, bool, None, numpy arrays (by dtype,
    shape and content), and dicts (order-insensitive), lists/tuples and dataclasses of these.

    Types matter: ``1``, ``1.0``, ``"1"`` and ``True`` give different keys.
    """
    h = hashlib.sha256()
    _feed(h, KEY_SCHEMA)
    for part in parts:
        _feed(h, part)
    return h.hexdigest()


def source_key(image_bytes: bytes, crop_options: object, mode: str, renderer_revision: str) -> str:
    """Key of a source-image entry (crop, landmarks, appearance and motion-extractor outputs).

    image_bytes: the image file's bytes; crop_options: a dict or dataclass of every crop setting;
    mode: ``human`` or ``animal``; renderer_revision: e.g. :func:`weights_fingerprint` of the
    mode's networks and detectors.
    """
    return cache_key("source", bytes(image_bytes), crop_options, mode, renderer_revision)


def audio_key(pcm: np.ndarray, encoder_revision: str) -> str:
    """Key of an audio-feature entry: the decoded (N,) 16 kHz mono samples, taken as float32 (what
    the encoder sees, so re-encoded or renamed files with the same samples share it), and the
    audio encoder's revision."""
    samples = np.asarray(pcm, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"pcm must be (N,) mono samples, got shape {samples.shape}")
    return cache_key("audio", samples, encoder_revision)


def motion_key(
    audio_key: str, seed: int | None, sampler: object, guidance: object, generator_revision: str
) -> str:
    """Key of a motion-sequence entry: the audio entry's key, the seed, sampler settings (kind,
    steps, smoothing...) and guidance settings (a dict or dataclass each), and the generator's
    revision. An unseeded run is random by design, so it has no key."""
    if seed is None:
        raise ValueError("an unseeded motion is random by design and cannot be cached; give a seed or skip the cache")
    return cache_key("motion", audio_key, seed, sampler, guidance, generator_revision)


def weights_fingerprint(paths: Iterable[str | Path]) -> str:
    """A cheap revision string for weight files, independent of their order and folder.

    Per file: its name, its size, and its first and last MiB (the whole file when smaller). For
    a 400 MB checkpoint this reads 2 MiB instead of 400; torch zip checkpoints end with a central
    directory holding every tensor's CRC-32, so a change anywhere in them shows in the last MiB.
    """
    digests = []
    for path in map(Path, paths):
        size = path.stat().st_size
        h = hashlib.sha256()
        _feed(h, path.name)
        _feed(h, size)
        with path.open("rb") as f:
            if size <= 2 * _FINGERPRINT_SPAN:
                _feed(h, f.read())
            else:
                _feed(h, f.read(_FINGERPRINT_SPAN))
                f.seek(size - _FINGERPRINT_SPAN)
                _feed(h, f.read(_FINGERPRINT_SPAN))
        digests.append(h.hexdigest())
    return cache_key("weights", sorted(digests))


# ---------------------------------------------------------------------------------------------
# Values


class CorruptEntry(ValueError):
    """Stored bytes that do not parse as an entry, or an entry not stored as raw bytes."""


def pack_arrays(arrays: Mapping[str, np.ndarray]) -> bytes:
    """A dict of numpy arrays as uncompressed ``.npz`` bytes (no pickling; object arrays refused)."""
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray) or array.dtype.hasobject:
            raise TypeError(f"entry {name!r} must be a numeric numpy array, got {type(array).__name__}")
    buffer = io.BytesIO()
    # What np.savez does, minus its keyword arguments, which would clash with arrays named "file".
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


#: numpy parses each .npy header with ``ast.literal_eval``, which CPython 3.11 does not make thread-safe (two
#: threads can fail with "AST constructor recursion depth mismatch", seen in this suite): one reader at a time.
_NPY_READ_LOCK = threading.Lock()


def unpack_arrays(data: bytes) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_arrays`; raises :class:`CorruptEntry` on anything else."""
    try:
        with _NPY_READ_LOCK, np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except Exception as exc:  # damaged bytes fail in many ways (zip, CRC, header, size); all mean "corrupt"
        raise CorruptEntry(f"unreadable cache entry: {exc}") from exc


class _BytesOnlyDisk(diskcache.Disk):
    """diskcache's serializer restricted to str keys and bytes values, so it never pickles.

    Reading refuses entries whose mode says "pickled" (or text): a cache folder written by
    someone else cannot make this process unpickle anything.
    """

    def put(self, key: object) -> tuple[object, bool]:
        if type(key) is not str:
            raise TypeError("cache keys are str")
        return super().put(key)

    def get(self, key: object, raw: bool) -> object:
        if not raw:
            raise CorruptEntry("pickled key in the cache database")
        return super().get(key, raw)

    def store(self, value: object, read: bool, key: object = UNKNOWN) -> tuple:
        if type(value) is not bytes:
            raise TypeError("cache values are bytes")
        return super().store(value, read, key)

    def fetch(self, mode: int, filename: str | None, value: object, read: bool) -> object:
        if mode not in (MODE_RAW, MODE_BINARY):
            raise CorruptEntry(f"cache entry stored in mode {mode}, not as raw bytes")
        return super().fetch(mode, filename, value, read)


# ---------------------------------------------------------------------------------------------
# The cache


def _private_folder(folder: Path) -> None:
    """Create ``folder`` as 0700, or make an existing one 0700; refuse one owned by another user."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "posix":
        return  # POSIX modes only; on Windows the default profile ACLs are per-user already
    info = folder.stat()
    if info.st_uid != os.getuid():
        raise PermissionError(
            f"cache folder {folder} belongs to another user; set {CACHE_DIR_ENV} to a folder of yours"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        log.info("cache folder %s was accessible to others; restricting it to its owner (0700)", folder)
        folder.chmod(0o700)


_STORAGE_ERRORS = (OSError, sqlite3.Error, diskcache.Timeout)


class FeatureCache:
    """Dicts of numpy arrays on disk under :func:`cache_key` keys; thread-safe (one per process).

    directory: where to keep it (default :func:`default_cache_dir`); size_limit_bytes: total cap,
    enforced after every :meth:`put` by evicting least-recently-used entries; enabled: False for
    a cache that stores nothing and always misses.
    """

    def __init__(
        self, directory: str | Path | None = None, size_limit_bytes: int = DEFAULT_SIZE_LIMIT, enabled: bool = True
    ) -> None:
        self.size_limit_bytes = int(size_limit_bytes)
        self.directory = (Path(directory).expanduser() if directory else default_cache_dir()) if enabled else None
        self._cache: diskcache.Cache | None = None
        self._lock = threading.Lock()
        if self.directory is None:
            return
        _private_folder(self.directory)
        try:
            self._cache = self._open()
        except sqlite3.DatabaseError as exc:
            self._cache = self._recover(exc)

    def _open(self) -> diskcache.Cache:
        return diskcache.Cache(
            str(self.directory),
            disk=_BytesOnlyDisk,
            eviction_policy="least-recently-used",  # keeps access times up to date for _evict
            cull_limit=0,  # diskcache culls 10 entries at a time, possibly the new one; _evict is exact
            size_limit=self.size_limit_bytes,
        )

    def _recover(self, exc: BaseException) -> diskcache.Cache | None:
        """A damaged database is moved aside (kept for inspection) and a fresh one opened: caching goes on
        without a restart. None if even a fresh one cannot be opened."""
        assert self.directory is not None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log.warning("cache database in %s is damaged (%s); moving it aside and starting a fresh one", self.directory,
                    exc)
        if self._cache is not None:
            try:
                self._cache.close()
            except _STORAGE_ERRORS:
                pass
        for name in ("cache.db", "cache.db-wal", "cache.db-shm"):
            damaged = self.directory / name
            if damaged.exists():
                damaged.replace(self.directory / f"{name}.damaged-{stamp}")
        try:
            return self._open()
        except sqlite3.DatabaseError as again:
            log.warning("cache at %s is unusable (%s); running without it", self.directory, again)
            return None

    def _storage_failed(self, exc: BaseException, what: str, key: str) -> None:
        """Log a storage failure; a damaged database (not a passing lock) is replaced at once."""
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            with self._lock:
                self._cache = self._recover(exc)
        else:
            log.warning("cache %s failed for %s (%s); continuing without it", what, key[:12], exc)

    @property
    def enabled(self) -> bool:
        return self._cache is not None

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None on a miss (a corrupted entry is dropped: a miss)."""
        _check_key(key)
        if self._cache is None:
            return None
        try:
            data = self._cache.get(key)
            return None if data is None else unpack_arrays(data)
        except CorruptEntry as exc:
            log.warning("dropping corrupted cache entry %s: %s", key[:12], exc)
            self._delete(key)
        except _STORAGE_ERRORS as exc:
            self._storage_failed(exc, "read", key)
        return None

    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key``, then evict older entries beyond the size cap.

        An entry larger than the whole cap is not stored. Storage failures are logged, not raised.
        """
        _check_key(key)
        data = pack_arrays(arrays)  # type errors are the caller's bug: raised even when disabled
        if self._cache is None:
            return
        if len(data) > self.size_limit_bytes:
            log.info("cache entry %s (%d bytes) exceeds the cache size limit; not stored", key[:12], len(data))
            return
        try:
            self._cache.set(key, data)
            self._evict(keep=key)
        except _STORAGE_ERRORS as exc:
            self._storage_failed(exc, "write", key)

    def _evict(self, keep: str) -> None:
        """Delete least-recently-used entries, one at a time, until the cache fits its cap."""
        while self._cache.volume() > self.size_limit_bytes:
            # diskcache has no public "oldest key" query; its Cache table keeps one access_time per row.
            rows = self._cache._sql(
                "SELECT key FROM Cache WHERE key != ? ORDER BY access_time LIMIT 1", (keep,)
            ).fetchall()
            if not rows:
                return
            self._cache.delete(rows[0][0])

    def _delete(self, key: str) -> None:
        try:
            self._cache.delete(key)
        except _STORAGE_ERRORS as exc:
            log.warning("could not delete cache entry %s (%s)", key[:12], exc)

    @property
    def volume_bytes(self) -> int:
        """Size on disk: entries plus the SQLite database (0 when disabled)."""
        return 0 if self._cache is None else self._cache.volume()

    def __len__(self) -> int:
        return 0 if self._cache is None else len(self._cache)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"cache keys are sha256 hex strings from cache_key(), got {key!r:.80}")
