"""Sources by git ref: refs pinned to SHAs, per-worker checkout caches, faults with git's words."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from dtf.errors import InfrastructureError, SourceError
from dtf.sources.checkout import SourceCache
from dtf.sources.git import repository_of
from dtf.sources.resolve import checkout_ref, list_refs, resolve_ref
from tests.fakes.gitproject import DemoRepo, commit, git, make_demo_repo


@pytest.fixture
def demo(tmp_path: Path) -> DemoRepo:
    return make_demo_repo(tmp_path / "origin")


def _snapshot(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its size and modification time: proof nothing changed."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_refs_resolve_to_the_commit_they_name(demo: DemoRepo, tmp_path: Path) -> None:
    cache = SourceCache(tmp_path / "cache")
    assert resolve_ref(demo.url, "main", cache) == demo.main
    assert resolve_ref(demo.url, "HEAD", cache) == demo.main
    # An annotated tag is its own object: the commit it points to is what gets tested.
    assert list_refs(demo.url)["refs/tags/v1"] == demo.v1
    assert resolve_ref(demo.url, "v1", cache) == demo.v1
    assert resolve_ref(demo.url, "refs/tags/v1", cache) == demo.v1
    assert resolve_ref(demo.url, demo.v1, cache) == demo.v1
    assert resolve_ref(demo.url, demo.v1[:8], cache) == demo.v1


def test_a_moving_branch_is_pinned_once(demo: DemoRepo, tmp_path: Path) -> None:
    cache = SourceCache(tmp_path / "cache")
    pinned = resolve_ref(demo.url, "main", cache)
    newer = commit(demo.path, {"later.txt": "x\n"}, "later")
    with cache.checkout(demo.url, pinned) as checkout:
        # The branch moved on, but the pinned SHA is still what a shard gets.
        assert git(checkout.path, "rev-parse", "HEAD") == demo.main
        assert not (checkout.path / "later.txt").exists()
    assert resolve_ref(demo.url, "main", cache) == newer


def test_an_unknown_ref_is_a_configuration_error_naming_the_refs(
    demo: DemoRepo, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match=r"unknown ref 'no-such-branch'.*refs/heads/main"):
        resolve_ref(demo.url, "no-such-branch", SourceCache(tmp_path / "cache"))
    with pytest.raises(SourceError, match="unknown ref 'abcdef12'"):
        resolve_ref(demo.url, "abcdef12", SourceCache(tmp_path / "cache"))


def test_a_commit_the_repository_lacks_is_a_configuration_error(
    demo: DemoRepo, tmp_path: Path
) -> None:
    cache = SourceCache(tmp_path / "cache")
    missing = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(SourceError, match="not our ref"), cache.checkout(demo.url, missing):
        pass
    assert [s.key for s in cache.entries.stored()] == [f"mirror-{_mirror_suffix(cache)}"]
    assert not cache.entries.path(f"tree-{missing}").exists()  # no half-made checkout


def _mirror_suffix(cache: SourceCache) -> str:
    return next(s.key for s in cache.entries.stored()).removeprefix("mirror-")


def test_an_unreachable_repository_is_an_infrastructure_fault(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere").as_uri()
    with pytest.raises(InfrastructureError) as raised:
        resolve_ref(url, "main", SourceCache(tmp_path / "cache"))
    assert raised.value.error_class == "checkout"
    assert "does not appear to be a git repository" in str(raised.value)
    cache = SourceCache(tmp_path / "cache")
    with pytest.raises(InfrastructureError, match="Could not read"), cache.checkout(url, "0" * 40):
        pass


def test_a_second_checkout_of_a_sha_uses_the_cache_without_the_network(
    demo: DemoRepo, tmp_path: Path
) -> None:
    cache = SourceCache(tmp_path / "cache")
    with cache.checkout(demo.url, demo.v1) as first:
        assert (first.built, first.fetched) == (True, True)
        assert "dtfdemo==1.0" in (first.path / "requirements.txt").read_text()
    before = _snapshot(cache.entries.root / "entries")
    shutil.move(demo.path, tmp_path / "moved-away")  # the repository is now unreachable
    with cache.checkout(demo.url, demo.v1) as second:
        assert (second.built, second.fetched) == (False, False)
        assert second.path == first.path
        assert git(second.path, "rev-parse", "HEAD") == demo.v1
    assert _snapshot(cache.entries.root / "entries") == before  # no object was fetched


def test_another_sha_of_the_same_repository_reuses_its_mirror(
    demo: DemoRepo, tmp_path: Path
) -> None:
    cache = SourceCache(tmp_path / "cache")
    with cache.checkout(demo.url, demo.v1):
        pass
    with cache.checkout(demo.url, demo.main) as known:
        # main was fetched with v1's mirror: a new checkout, but no fetch.
        assert (known.built, known.fetched) == (True, False)
    newer = commit(demo.path, {"later.txt": "x\n"}, "later")
    with cache.checkout(demo.url, newer) as fresh:
        assert (fresh.built, fresh.fetched) == (True, True)
    kinds = sorted(s.key.split("-")[0] for s in cache.entries.stored())
    assert kinds == ["mirror", "tree", "tree", "tree"]


def test_concurrent_shards_wait_for_one_clone(demo: DemoRepo, tmp_path: Path) -> None:
    cache = SourceCache(tmp_path / "cache")
    start = threading.Barrier(4)
    seen: list[tuple[bool, Path]] = []
    errors: list[BaseException] = []

    def shard() -> None:
        try:
            start.wait()
            with cache.checkout(demo.url, demo.main) as checkout:
                seen.append((checkout.built, checkout.path))
        except BaseException as exc:  # reported below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=shard) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(built for built, _ in seen) == [False, False, False, True]
    assert len({path for _, path in seen}) == 1


def test_two_workers_keep_separate_caches(
    demo: DemoRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for name in ("worker-a", "worker-b"):
        home = tmp_path / name
        home.mkdir()
        monkeypatch.chdir(home)  # no shared working directory either
        with SourceCache(home / "cache").checkout(demo.url, demo.v1) as checkout:
            assert checkout.built
            paths.append(checkout.path)
            assert (checkout.path / "tests" / "test_demo.py").is_file()
    assert paths[0] != paths[1] and paths[0].is_relative_to(tmp_path / "worker-a")


def test_a_leased_checkout_is_never_evicted(demo: DemoRepo, tmp_path: Path) -> None:
    cache = SourceCache(tmp_path / "cache", max_bytes=1)  # everything is over the bound
    with cache.checkout(demo.url, demo.v1) as held:
        with cache.checkout(demo.url, demo.main):
            pass
        # Building main evicted what it could; v1 is leased (a shard runs in it): it stays.
        assert (held.path / "requirements.txt").is_file()
        assert cache.entries.evict() == [f"tree-{demo.main}"]
        assert held.path.is_dir()
    assert cache.entries.evict() == [f"tree-{demo.v1}"]
    assert cache.entries.stored() == []


def test_the_least_recently_used_checkout_goes_first(demo: DemoRepo, tmp_path: Path) -> None:
    cache = SourceCache(tmp_path / "cache")
    for sha in (demo.v1, demo.main):
        with cache.checkout(demo.url, sha):
            pass
    sizes = {s.key: s.bytes for s in cache.entries.stored()}
    # Room for what is there now and half a checkout more: one more commit forces one out.
    cache.entries.max_bytes = sum(sizes.values()) + sizes[f"tree-{demo.main}"] // 2
    with cache.checkout(demo.url, demo.v1) as used:
        assert not used.built  # a hit: v1 is now more recently used than main
    newer = commit(demo.path, {"later.txt": "x\n"}, "later")
    with cache.checkout(demo.url, newer):
        pass
    kept = {s.key for s in cache.entries.stored()}
    assert f"tree-{demo.main}" not in kept
    assert {f"tree-{demo.v1}", f"tree-{newer}"} <= kept
    assert sum(s.bytes for s in cache.entries.stored()) <= cache.entries.max_bytes


def test_a_pull_request_ref_is_pinned_and_checked_out_in_the_cache(
    demo: DemoRepo, tmp_path: Path
) -> None:
    # A pull request's head: a commit on no branch or tag, under refs/pull/ as on a forge.
    git(demo.path, "checkout", "--quiet", "-b", "topic")
    head = commit(demo.path, {"topic.txt": "only in the pull request\n"}, "topic")
    git(demo.path, "update-ref", "refs/pull/7/head", head)
    git(demo.path, "checkout", "--quiet", "main")
    git(demo.path, "branch", "--quiet", "-D", "topic")
    cache = SourceCache(tmp_path / "cache")
    with checkout_ref(demo.url, "refs/pull/7/head", cache) as tree:
        assert tree.sha == head and tree.built
        assert (tree.path / "topic.txt").read_text() == "only in the pull request\n"
        assert tree.path == cache.entries.path(f"tree-{head}")
    with checkout_ref(demo.url, "v1", cache) as tagged:
        assert tagged.sha == demo.v1 and not (tagged.path / "topic.txt").exists()


def test_the_default_repository_is_origin_else_the_working_tree(
    demo: DemoRepo, tmp_path: Path
) -> None:
    assert repository_of(demo.path / "tests") == str(demo.path)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", demo.url, str(clone))
    assert repository_of(clone) == demo.url
    with pytest.raises(InfrastructureError, match="not a git repository"):
        repository_of(tmp_path)
