"""The per-worker entry cache: one build per key, leases that block eviction, LRU order."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from dtf.cache.entries import EntryCache
from dtf.cache.locks import file_lock, try_lock
from dtf.errors import InfrastructureError


def _writer(size: int, calls: list[str] | None = None) -> Callable[[Path], dict[str, int]]:
    def build(path: Path) -> dict[str, int]:
        if calls is not None:
            calls.append(path.name)
        (path / "data").write_bytes(b"x" * size)
        return {"size": size}

    return build


def test_an_entry_is_built_once_and_then_found(tmp_path: Path) -> None:
    cache = EntryCache(tmp_path, max_bytes=10**9)
    calls: list[str] = []
    with cache.lease("a", _writer(10, calls)) as first:
        assert first.built and first.info == {"size": 10}
    with cache.lease("a", _writer(10, calls)) as again:
        assert not again.built and again.path == first.path and again.info == {"size": 10}
    assert calls == ["a"]


def test_concurrent_leases_of_a_missing_key_wait_for_one_build(tmp_path: Path) -> None:
    cache = EntryCache(tmp_path, max_bytes=10**9)
    arrived = threading.Semaphore(0)
    calls: list[str] = []
    built: list[bool] = []

    def slow(path: Path) -> dict[str, str]:
        calls.append(path.name)
        for _ in range(3):  # every thread has asked for the entry before this build ends
            assert arrived.acquire(timeout=10)
        return {}

    def lease() -> None:
        arrived.release()
        with cache.lease("k", slow) as entry:
            built.append(entry.built)

    threads = [threading.Thread(target=lease) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["k"] and sorted(built) == [False, False, True]


def test_a_failed_build_leaves_nothing_and_the_next_lease_builds_again(tmp_path: Path) -> None:
    cache = EntryCache(tmp_path, max_bytes=10**9)

    def broken(path: Path) -> dict[str, str]:
        (path / "half").write_text("written before the failure")
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"), cache.lease("k", broken):
        pass
    assert not cache.path("k").exists() and cache.stored() == []
    with cache.lease("k", _writer(1)) as entry:
        assert entry.built and not (entry.path / "half").exists()


def test_eviction_removes_least_recently_used_first(tmp_path: Path) -> None:
    cache = EntryCache(tmp_path, max_bytes=10**9)
    for key in ("old", "mid", "new"):
        with cache.lease(key, _writer(8192)):
            pass
    with cache.lease("old", _writer(8192)):
        pass  # a use: "old" is now the most recent
    sizes = {s.key: s.bytes for s in cache.stored()}
    assert [s.key for s in cache.stored()] == ["mid", "new", "old"]
    cache.max_bytes = sizes["new"] + sizes["old"]
    assert cache.evict() == ["mid"]
    cache.max_bytes = 0
    assert cache.evict(keep="old") == ["new"]
    assert [s.key for s in cache.stored()] == ["old"]


def test_a_leased_entry_is_not_evicted(tmp_path: Path) -> None:
    cache = EntryCache(tmp_path, max_bytes=0)
    with cache.lease("held", _writer(100)) as held:
        assert cache.evict() == []
        assert (held.path / "data").is_file()
    assert cache.evict() == ["held"]
    assert not cache.path("held").exists()


def test_a_build_that_died_half_way_is_swept(tmp_path: Path) -> None:
    cache = EntryCache(tmp_path, max_bytes=10**9)
    (cache.path("crashed")).mkdir(parents=True)  # a directory without its marker
    (cache.path("crashed") / "part").write_text("x")
    assert cache.evict() == ["crashed"]
    assert not cache.path("crashed").exists()


@pytest.mark.parametrize("key", ["../up", "a/b", "", ".hidden"])
def test_keys_cannot_name_paths_outside_the_cache(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid cache key"):
        EntryCache(tmp_path, max_bytes=1).path(key)


def test_a_lock_held_elsewhere_times_out_as_an_infrastructure_fault(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with file_lock(lock):
        with try_lock(lock) as free:
            assert not free
        timed_out = pytest.raises(InfrastructureError, match="timed out")
        with timed_out as raised, file_lock(lock, shared=True, wait=0.1):
            pass
        assert raised.value.error_class == "cache_lock"
    with try_lock(lock) as free:
        assert free


def test_shared_locks_do_not_exclude_each_other(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with (
        file_lock(lock, shared=True),
        file_lock(lock, shared=True, wait=0.1),
        try_lock(lock) as free,
    ):
        assert not free  # but they do keep an evictor out


def test_an_entry_deleted_behind_the_caches_back_is_built_again(tmp_path: Path) -> None:
    cache = EntryCache(tmp_path, max_bytes=10**9)
    with cache.lease("k", _writer(1)) as entry:
        pass
    shutil.rmtree(entry.path)  # an operator cleaning up by hand; the marker stays
    with cache.lease("k", _writer(1)) as again:
        assert again.built and (again.path / "data").is_file()
