"""Feature cache: exact round trips, key stability and sensitivity, eviction, permissions,
corruption handling, no pickling anywhere, disabled mode, weight fingerprints."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from model import cache as cache_module
from model.cache import (
    CACHE_DIR_ENV,
    FeatureCache,
    audio_key,
    cache_key,
    default_cache_dir,
    motion_key,
    source_key,
    weights_fingerprint,
)
from model.motion.sampler import SamplerConfig

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def sample_entry(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "feature_volume": rng.standard_normal((2, 16, 8, 8, 8), dtype=np.float32),  # 64 KiB: a file on disk
        "kp": rng.standard_normal((1, 21, 3)).astype(np.float64),
        "crop": rng.integers(0, 255, (4, 4, 3), dtype=np.uint8),
        "lmk": rng.integers(-5, 5, (203, 2)).astype(np.int64),
        "mask": rng.random((3, 3)) > 0.5,
        "half": rng.standard_normal(5).astype(np.float16),
        "scale": np.array(1.5, dtype=np.float32),  # 0-d
        "empty": np.zeros((0, 3), np.float32),
        "file": np.arange(3),  # a name np.savez would take as its own argument
    }


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert got is not None and set(got) == set(want)
    for name, array in want.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
        np.testing.assert_array_equal(got[name], array)


@pytest.fixture
def store(tmp_path):
    with FeatureCache(tmp_path / "cache", size_limit_bytes=50 * 2**20) as c:
        yield c


def test_round_trip_is_exact(store):
    entry = sample_entry()
    key = cache_key("test", 1)
    assert store.get(key) is None
    store.put(key, entry)
    assert_same(store.get(key), entry)
    assert len(store) == 1


def test_entries_persist_across_instances(tmp_path):
    key, entry = cache_key("persist"), sample_entry(3)
    with FeatureCache(tmp_path / "c") as first:
        first.put(key, entry)
    with FeatureCache(tmp_path / "c") as second:
        assert_same(second.get(key), entry)


def test_default_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv(CACHE_DIR_ENV)
    assert default_cache_dir() == Path.home() / ".cache" / "joyvasa"


# ---------------------------------------------------------------------------------------------
# Keys


def test_key_format_is_pinned():
    """Changing how parts are hashed must come with a new KEY_SCHEMA (old entries then just miss)."""
    key = cache_key("source", b"\x00\x01", {"scale": 2.3, "vy": -0.125}, 7, True, None, np.arange(3, dtype=np.int32))
    assert key == "c78b29ede28c48ff8e4fdd6908eb2fe710c6d24ba96dbf871d5bedbbd2578ea9"


def test_keys_are_stable_and_dict_order_is_irrelevant():
    a = cache_key({"scale": 2.3, "vx": 0.0, "vy": -0.125, "nested": {"a": 1, "b": [1, 2]}})
    b = cache_key({"nested": {"b": [1, 2], "a": 1}, "vy": -0.125, "vx": 0.0, "scale": 2.3})
    assert a == b and len(a) == 64 and int(a, 16) >= 0


def test_types_and_boundaries_matter():
    keys = [
        cache_key(1), cache_key(1.0), cache_key("1"), cache_key(True), cache_key(b"1"), cache_key(None),
        cache_key(["ab", "c"]), cache_key(["a", "bc"]), cache_key("ab", "c"), cache_key("abc"),
        cache_key(np.zeros(4, np.float32)), cache_key(np.zeros((2, 2), np.float32)),
        cache_key(np.zeros(2, np.float64)), cache_key(np.zeros(4, np.int32)),
        cache_key({"a": 1}), cache_key([["a", 1]]), cache_key(0.1 + 0.2), cache_key(0.3),
    ]
    assert len(set(keys)) == len(keys)


def test_a_dataclass_keys_as_its_fields():
    @dataclass(frozen=True)
    class Crop:
        scale: float = 2.3
        vy: float = -0.125

    assert cache_key(Crop()) == cache_key({"vy": -0.125, "scale": 2.3})
    assert cache_key(Crop(scale=2.0)) != cache_key(Crop())
    assert cache_key(SamplerConfig(kind="ddim", num_steps=25)) != cache_key(SamplerConfig(kind="ddim", num_steps=20))


def test_unsupported_parts_are_refused():
    for part in (Path("x"), object(), np.array([object()]), {1: "int key"}):
        with pytest.raises(TypeError):
            cache_key(part)


CROP = {"scale": 2.3, "vx": 0.0, "vy": -0.125, "do_crop": True}


def test_source_key_depends_on_every_part():
    base = source_key(b"PNG...image", CROP, "human", "rev1")
    assert base == source_key(b"PNG...image", dict(reversed(CROP.items())), "human", "rev1")
    assert len({
        base,
        source_key(b"PNG...imagf", CROP, "human", "rev1"),
        source_key(b"PNG...image", {**CROP, "scale": 2.31}, "human", "rev1"),
        source_key(b"PNG...image", CROP, "animal", "rev1"),
        source_key(b"PNG...image", CROP, "human", "rev2"),
    }) == 5


def test_audio_key_depends_on_samples_and_encoder():
    pcm = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    base = audio_key(pcm, "hubert-rev")
    assert audio_key(pcm.astype(np.float64), "hubert-rev") == base  # keyed on the float32 samples
    changed = pcm.copy()
    changed[8000] += 1e-6
    assert len({base, audio_key(changed, "hubert-rev"), audio_key(pcm[:-1], "hubert-rev"),
                audio_key(pcm, "other-rev")}) == 4
    with pytest.raises(ValueError, match="mono"):
        audio_key(np.zeros((2, 10), np.float32), "rev")


def test_motion_key_depends_on_every_part_and_needs_a_seed():
    audio = cache_key("audio entry")
    sampler = SamplerConfig(kind="ddim", num_steps=25)
    guidance = {"cfg_scale": 4.0, "cfg_mode": "incremental"}
    base = motion_key(audio, 0, sampler, guidance, "gen-rev")
    assert base == motion_key(audio, 0, sampler, dict(reversed(guidance.items())), "gen-rev")
    assert len({
        base,
        motion_key(cache_key("other audio"), 0, sampler, guidance, "gen-rev"),
        motion_key(audio, 1, sampler, guidance, "gen-rev"),
        motion_key(audio, 0, SamplerConfig(kind="dpmsolver++", num_steps=25), guidance, "gen-rev"),
        motion_key(audio, 0, sampler, {**guidance, "cfg_scale": 4.5}, "gen-rev"),
        motion_key(audio, 0, sampler, guidance, "gen-rev2"),
    }) == 6
    with pytest.raises(ValueError, match="seed"):
        motion_key(audio, None, sampler, guidance, "gen-rev")


def test_bad_keys_and_values_are_refused(store):
    with pytest.raises(ValueError, match="sha256"):
        store.get("not-a-key")
    with pytest.raises(TypeError, match="numeric numpy array"):
        store.put(cache_key("x"), {"a": np.array([object()])})
    with pytest.raises(TypeError, match="numeric numpy array"):
        store.put(cache_key("x"), {"a": [1, 2, 3]})


# ---------------------------------------------------------------------------------------------
# Weight fingerprints


def test_weights_fingerprint(tmp_path):
    big, small = tmp_path / "a" / "warping_module.pth", tmp_path / "a" / "config.json"
    big.parent.mkdir()
    rng = np.random.default_rng(0)
    big.write_bytes(rng.bytes(3 * 2**20))
    small.write_bytes(b'{"size": "small"}')
    base = weights_fingerprint([big, small])
    assert base == weights_fingerprint([small, big])  # order-insensitive
    moved = tmp_path / "b"
    shutil.copytree(big.parent, moved)
    assert weights_fingerprint([moved / big.name, moved / small.name]) == base  # folder-insensitive

    def changed(path: Path, offset: int) -> str:
        data = bytearray(path.read_bytes())
        data[offset] ^= 1
        path.write_bytes(bytes(data))
        try:
            return weights_fingerprint([big, small])
        finally:
            data[offset] ^= 1
            path.write_bytes(bytes(data))

    assert changed(big, 0) != base and changed(big, 3 * 2**20 - 1) != base and changed(small, 3) != base
    renamed = big.rename(big.with_name("spade_generator.pth"))
    assert weights_fingerprint([renamed, small]) != base


def test_weights_fingerprint_reads_little_of_a_large_file(tmp_path):
    path = tmp_path / "motion_generator.pt"
    with path.open("wb") as f:
        f.truncate(400 * 2**20)  # sparse: 400 MB without writing them
    start = time.perf_counter()
    weights_fingerprint([path])
    assert time.perf_counter() - start < 0.5


# ---------------------------------------------------------------------------------------------
# Size cap and eviction


def blob(seed: int, kib: int = 300) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).integers(0, 255, kib * 1024, dtype=np.uint8)}


def test_least_recently_used_entries_are_evicted_to_fit_the_cap(tmp_path):
    limit = 2 * 2**20
    with FeatureCache(tmp_path / "c", size_limit_bytes=limit) as c:
        keys = [cache_key("blob", i) for i in range(12)]
        for i, key in enumerate(keys):
            c.put(key, blob(i))
            assert c.get(keys[0]) is not None  # keeps entry 0 the most recently used
            assert c.volume_bytes <= limit
        alive = [i for i, key in enumerate(keys) if c.get(key) is not None]
        assert 0 in alive and 11 in alive
        assert 3 <= len(alive) < 12
        assert alive == [0, *range(12 - len(alive) + 1, 12)]  # the rest went oldest first


def test_the_new_entry_survives_even_when_it_needs_several_evictions(tmp_path):
    with FeatureCache(tmp_path / "c", size_limit_bytes=2 * 2**20) as c:
        for i in range(5):
            c.put(cache_key("small", i), blob(i, 200))
        c.put(cache_key("big"), blob(99, 1500))
        assert c.get(cache_key("big")) is not None
        assert c.volume_bytes <= 2 * 2**20


def test_an_entry_larger_than_the_cap_is_not_stored(tmp_path):
    with FeatureCache(tmp_path / "c", size_limit_bytes=2**20) as c:
        c.put(cache_key("kept"), blob(0, 100))
        c.put(cache_key("huge"), blob(1, 2048))
        assert c.get(cache_key("huge")) is None and c.get(cache_key("kept")) is not None


# ---------------------------------------------------------------------------------------------
# Permissions


@posix_only
def test_new_folder_is_owner_only(tmp_path):
    with FeatureCache(tmp_path / "deep" / "cache"):
        pass
    assert stat.S_IMODE((tmp_path / "deep" / "cache").stat().st_mode) == 0o700


@posix_only
def test_open_folder_is_restricted_at_open(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    with FeatureCache(folder) as c:
        c.put(cache_key("x"), blob(0, 1))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@posix_only
def test_a_folder_of_another_user_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module.os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    with pytest.raises(PermissionError, match="another user"):
        FeatureCache(tmp_path / "c")


# ---------------------------------------------------------------------------------------------
# Corruption and failures


def value_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.val"))


def test_a_corrupted_file_entry_is_dropped_and_recomputed(store, caplog):
    key, entry = cache_key("volume"), sample_entry(1)
    store.put(key, entry)
    (path,) = value_files(store.directory)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside an array: the zip CRC check catches it
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="model.cache"):
        assert store.get(key) is None
    assert "corrupted" in caplog.text and len(store) == 0 and value_files(store.directory) == []
    store.put(key, entry)  # the recompute path
    assert_same(store.get(key), entry)


@pytest.mark.parametrize("garbage", [b"", b"\x00" * 10, b"PK\x03\x04 truncated zip"])
def test_a_corrupted_small_entry_is_a_miss(store, garbage):
    key = cache_key("small")
    store.put(key, {"kp": np.ones((21, 3), np.float32)})  # below 32 KiB: kept inside SQLite
    assert value_files(store.directory) == []
    with sqlite3.connect(store.directory / "cache.db") as db:
        db.execute("UPDATE Cache SET value = ?", (garbage,))
    assert store.get(key) is None and len(store) == 0


def test_a_deleted_value_file_is_a_miss(store):
    key = cache_key("volume")
    store.put(key, sample_entry())
    value_files(store.directory)[0].unlink()
    assert store.get(key) is None


def test_a_damaged_database_is_moved_aside_and_replaced(tmp_path, caplog):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "cache.db").write_bytes(b"this is not an sqlite database" * 100)
    with caplog.at_level(logging.WARNING, logger="model.cache"), FeatureCache(folder) as c:
        assert c.enabled
        c.put(cache_key("x"), blob(0, 1))
        assert c.get(cache_key("x")) is not None
    assert "damaged" in caplog.text
    assert len(list(folder.glob("cache.db.damaged-*"))) == 1


def test_a_database_damaged_while_running_is_replaced_without_a_restart(tmp_path, caplog):
    folder = tmp_path / "c"
    with FeatureCache(folder) as c:
        c.put(cache_key("x"), blob(0, 1))
        c._cache.close()
        (folder / "cache.db").write_bytes(b"garbage" * 1000)  # damaged under the running server
        with caplog.at_level(logging.WARNING, logger="model.cache"):
            assert c.get(cache_key("x")) is None  # a miss, not an error
        c.put(cache_key("y"), blob(1, 1))
        assert c.get(cache_key("y")) is not None  # caching goes on
    assert "damaged" in caplog.text


def test_an_unopenable_cache_disables_itself(tmp_path, monkeypatch, caplog):
    import sqlite3

    def broken(self):
        raise sqlite3.DatabaseError("file is not a database")

    monkeypatch.setattr(FeatureCache, "_open", broken)
    with caplog.at_level(logging.WARNING, logger="model.cache"), FeatureCache(tmp_path / "c") as c:
        assert not c.enabled
        c.put(cache_key("x"), blob(0, 1))
        assert c.get(cache_key("x")) is None
    assert "unusable" in caplog.text


def test_storage_failures_are_not_fatal(store, monkeypatch, caplog):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store._cache, "set", full_disk)
    with caplog.at_level(logging.WARNING, logger="model.cache"):
        store.put(cache_key("x"), blob(0, 1))
    assert "write failed" in caplog.text and store.get(cache_key("x")) is None


# ---------------------------------------------------------------------------------------------
# No pickle anywhere


@pytest.fixture
def pickle_forbidden(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("pickle must not be used by the feature cache")

    for name in ("dumps", "dump", "loads", "load"):
        monkeypatch.setattr(pickle, name, forbidden)


def test_storing_and_reading_never_pickles(tmp_path, pickle_forbidden):
    with FeatureCache(tmp_path / "c") as c:
        small, large = {"kp": np.ones((21, 3), np.float32)}, sample_entry()
        c.put(cache_key("small"), small)  # stored as a BLOB in SQLite
        c.put(cache_key("large"), large)  # stored as a file
        assert_same(c.get(cache_key("small")), small)
        assert_same(c.get(cache_key("large")), large)
    with sqlite3.connect(tmp_path / "c" / "cache.db") as db:
        assert {mode for (mode,) in db.execute("SELECT mode FROM Cache")} <= {1, 2}  # raw and binary only


def test_an_entry_marked_as_pickled_is_never_unpickled(tmp_path, caplog):
    """A tampered database (diskcache's CVE-2025-69872) cannot make the cache unpickle."""
    calls = []

    class Payload:
        def __reduce__(self):
            return (calls.append, ("unpickled!",))

    evil = pickle.dumps(Payload())
    with FeatureCache(tmp_path / "c") as c:
        key = cache_key("x")
        c.put(key, {"a": np.ones(3)})
        with sqlite3.connect(tmp_path / "c" / "cache.db") as db:
            db.execute("UPDATE Cache SET mode = 4, value = ?", (evil,))  # diskcache's MODE_PICKLE
        with caplog.at_level(logging.WARNING, logger="model.cache"):
            assert c.get(key) is None
        assert calls == [] and len(c) == 0 and "not as raw bytes" in caplog.text


# ---------------------------------------------------------------------------------------------
# Disabled mode and threads


def test_disabled_cache_stores_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "never"))
    c = FeatureCache(enabled=False)
    key = cache_key("x")
    c.put(key, sample_entry())
    assert not c.enabled and c.get(key) is None and len(c) == 0 and c.volume_bytes == 0
    assert c.directory is None and not (tmp_path / "never").exists()
    with pytest.raises(TypeError):
        c.put(key, {"a": "not an array"})  # caller bugs still surface
    c.close()


def test_concurrent_threads_share_one_instance(store):
    errors = []

    def work(worker: int) -> None:
        try:
            for i in range(20):
                key = cache_key("thread", worker, i)
                entry = {"v": np.full(100, worker * 100 + i, np.int32)}
                store.put(key, entry)
                assert_same(store.get(key), entry)
        except Exception as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(store) == 80
