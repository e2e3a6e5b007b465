"""The collection cache: what changes its key, and discovery reusing or redoing real collections."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dtf.cache.collected import CollectionCache, CollectionKey, collection_key, site_dirs
from dtf.discovery import Discovered
from dtf.environments.spec import EnvironmentSpec, WorkspaceSpec
from dtf.environments.workspace import discover_in_workspace, plan_workspace, reused_collection
from dtf.sources.spec import PinnedSource

ARGS = ["tests"]
ENV = {"PATH": "/usr/bin", "HOME": "<scratch>/home"}


def _project(root: Path) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / "tests" / "test_one.py").write_text("def test_a():\n    pass\n", encoding="utf-8")
    _age(root)
    return root


def _age(root: Path) -> None:
    """Files older than the racy window, as a tree that is not being edited."""
    past = time.time() - 60
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(Path(folder, name), (past, past))


def _key(root: Path, args: list[str] = ARGS, env: dict[str, str] = ENV) -> CollectionKey | None:
    return collection_key(root, args, sys.executable, env)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _project(tmp_path / "project")


def test_the_key_is_stable_for_an_unchanged_tree(project: Path) -> None:
    assert _key(project) == _key(project)


def _edit(path: Path) -> None:
    path.write_text("def test_a():\n    assert 1\n", encoding="utf-8")


def _add(path: Path) -> None:
    path.write_text("def test_b():\n    pass\n", encoding="utf-8")


CHANGES: dict[str, Callable[[Path], None]] = {
    "a test module edited": lambda p: _edit(p / "tests" / "test_one.py"),
    "a test module added": lambda p: _add(p / "tests" / "test_two.py"),
    "a data file added": lambda p: (p / "tests" / "cases.json").write_text("[]", encoding="utf-8"),
    "the ini edited": lambda p: (p / "pytest.ini").write_text("[pytest]\nxfail_strict = 1\n"),
    "a conftest in a parent": lambda p: (p.parent / "conftest.py").write_text("X = 1\n"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_input_of_collection_changes_the_key(project: Path, change: str) -> None:
    before = _key(project)
    CHANGES[change](project)
    assert _key(project) != before


def test_arguments_and_variables_change_the_key(project: Path) -> None:
    assert _key(project, ["tests", "-k", "a"]) != _key(project)
    assert _key(project, env={**ENV, "SEED": "1"}) != _key(project)


def test_a_same_size_rewrite_within_the_clock_granularity_is_not_reused(
    project: Path, tmp_path: Path
) -> None:
    # Two writes within one tick of the file system's clock leave size, mtime and ctime
    # alike, so the digests match; the content hash taken when the entry was stored differs.
    module = project / "tests" / "test_one.py"
    module.write_text("def test_z():\n    pass\n", encoding="utf-8")
    now = _key(project)
    assert now is not None and list(now.racy) == [str(module.resolve())]
    then = CollectionKey(now.digest, {str(module.resolve()): "sha256 of def test_a()"})
    cache = CollectionCache(tmp_path / "cache")
    cache.save(then, Discovered(rootdir=project, nodeids=["tests/test_one.py::test_a"]))
    assert cache.load(now) is None
    cache.save(CollectionKey(now.digest), Discovered(rootdir=project, nodeids=["t.py::x"]))
    assert cache.load(now) is None  # an entry that cannot vouch for a file racy now
    cache.save(now, Discovered(rootdir=project, nodeids=["tests/test_one.py::test_z"]))
    found = cache.load(now)
    assert found is not None and found.nodeids == ["tests/test_one.py::test_z"]


def test_a_file_edited_just_before_a_collection_is_reused_once_it_settles(
    project: Path, tmp_path: Path
) -> None:
    module = project / "tests" / "test_one.py"
    module.write_text("def test_a():\n    assert True\n", encoding="utf-8")
    mtime = module.stat().st_mtime
    fresh = collection_key(project, ARGS, sys.executable, ENV, now=mtime + 0.5)
    assert fresh is not None and list(fresh.racy) == [str(module.resolve())]
    cache = CollectionCache(tmp_path / "cache")
    cache.save(fresh, Discovered(rootdir=project, nodeids=["tests/test_one.py::test_a"]))
    settled = collection_key(project, ARGS, sys.executable, ENV, now=mtime + 60)
    assert settled is not None and (settled.digest, settled.racy) == (fresh.digest, {})
    found = cache.load(settled)
    assert found is not None and found.nodeids == ["tests/test_one.py::test_a"]
    entry = json.loads((cache.folder / f"{settled.digest}.json").read_text(encoding="utf-8"))
    assert entry["racy"] == {}  # stored again: later uses do not hash the file


def test_a_venv_s_own_site_packages_count_not_this_interpreter_s(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(os.path.realpath(sys.executable))  # as venvs do
    packages = venv / "lib" / "python3.11" / "site-packages"
    packages.mkdir(parents=True)
    assert site_dirs(str(venv / "bin" / "python")) == [packages]


def test_byte_code_and_hidden_directories_do_not_change_the_key(project: Path) -> None:
    before = _key(project)
    for ignored in ("__pycache__", ".git", ".venv"):
        (project / "tests" / ignored).mkdir()
        (project / "tests" / ignored / "x.pyc").write_bytes(b"\0")
    assert _key(project) == before


def test_a_path_the_arguments_name_outside_the_source_is_walked_too(
    project: Path, tmp_path: Path
) -> None:
    elsewhere = _project(tmp_path / "elsewhere")
    args = [str(elsewhere / "tests"), "-k", "a"]
    before = _key(project, args)
    _add(elsewhere / "tests" / "test_two.py")
    assert _key(project, args) != before
    (elsewhere / "conftest.py").write_text("X = 1\n", encoding="utf-8")  # a parent of the path
    changed = _key(project, args)
    (elsewhere / "conftest.py").unlink()
    assert _key(project, args) != changed


def test_dtf_s_own_state_under_the_source_is_left_out(project: Path) -> None:
    home = project / "dtf-home"
    home.mkdir()
    before = collection_key(project, ARGS, sys.executable, ENV, exclude=[home])
    (home / "dtf.duckdb").write_bytes(b"results")
    assert collection_key(project, ARGS, sys.executable, ENV, exclude=[home]) == before
    assert _key(project) != before  # not excluded: it is a file of the tree


def test_a_source_that_is_dtf_s_home_is_not_walked(project: Path, tmp_path: Path) -> None:
    # `dtf run /path/to/tests` from the dtf home: the default campaign's source is the home.
    home = tmp_path / "home"
    home.mkdir()
    args = [str(project / "tests")]
    before = collection_key(home, args, sys.executable, ENV, exclude=[home])
    (home / "dtf.duckdb").write_bytes(b"results")
    assert collection_key(home, args, sys.executable, ENV, exclude=[home]) == before
    _add(project / "tests" / "test_two.py")
    assert collection_key(home, args, sys.executable, ENV, exclude=[home]) != before


def test_a_tree_past_the_file_limit_is_collected_every_time(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dtf.cache.collected.MAX_FILES", 1)
    assert _key(project) is None


def test_a_stored_collection_comes_back_marked_reused(tmp_path: Path) -> None:
    cache = CollectionCache(tmp_path)
    cache.save(CollectionKey("k"), Discovered(rootdir=tmp_path, nodeids=["t.py::a", "t.py::b"]))
    found = cache.load(CollectionKey("k"))
    assert found is not None and found.reused
    assert (found.rootdir, found.nodeids) == (tmp_path, ["t.py::a", "t.py::b"])
    assert cache.load(CollectionKey("other")) is None


def test_collections_with_errors_and_unreadable_entries_are_misses(tmp_path: Path) -> None:
    cache = CollectionCache(tmp_path)
    cache.save(
        CollectionKey("k"), Discovered(rootdir=tmp_path, collect_errors={"t.py": "ImportError"})
    )
    assert cache.load(CollectionKey("k")) is None
    cache.folder.mkdir(parents=True)
    (cache.folder / "bad.json").write_text("{not json", encoding="utf-8")
    assert cache.load(CollectionKey("bad")) is None


def test_the_least_recently_used_entries_go(tmp_path: Path) -> None:
    cache = CollectionCache(tmp_path, max_entries=3)
    for index, key in enumerate(("a", "b", "c")):
        cache.save(CollectionKey(key), Discovered(rootdir=tmp_path, nodeids=[key]))
        os.utime(tmp_path / "collections" / f"{key}.json", (index, index))
    cache.load(CollectionKey("a"))  # used now: the newest
    cache.save(CollectionKey("d"), Discovered(rootdir=tmp_path, nodeids=["d"]))
    assert sorted(p.stem for p in (tmp_path / "collections").glob("*.json")) == ["a", "c", "d"]


def _workspace(project: Path) -> WorkspaceSpec:
    return plan_workspace(project, None)


def test_discovery_reuses_an_identical_collection_and_redoes_a_changed_one(
    project: Path, tmp_path: Path
) -> None:
    workspace, worker = _workspace(project), tmp_path / "worker"
    first = discover_in_workspace(workspace, ARGS, cache_root=worker)
    assert (first.reused, first.nodeids) == (False, ["tests/test_one.py::test_a"])
    again = discover_in_workspace(workspace, ARGS, cache_root=worker)
    assert (again.reused, again.nodeids, again.rootdir) == (True, first.nodeids, first.rootdir)
    _add(project / "tests" / "test_two.py")
    changed = discover_in_workspace(workspace, ARGS, cache_root=worker)
    assert not changed.reused
    assert changed.nodeids == [*first.nodeids, "tests/test_two.py::test_b"]


def test_both_switches_turn_reuse_off(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, worker = _workspace(project), tmp_path / "worker"
    discover_in_workspace(workspace, ARGS, cache_root=worker)
    assert not discover_in_workspace(workspace, ARGS, cache_root=worker, reuse=False).reused
    monkeypatch.setenv("DTF_COLLECTION_CACHE", "0")
    assert not discover_in_workspace(workspace, ARGS, cache_root=worker).reused


def test_the_flow_s_quick_lookup_finds_what_discovery_stored_and_never_collects(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, worker = _workspace(project), tmp_path / "worker"
    assert reused_collection(workspace, ARGS, cache_root=worker) is None  # nothing stored yet
    assert not (worker / "collections").exists()  # and it did not collect to find out
    first = discover_in_workspace(workspace, ARGS, cache_root=worker)
    found = reused_collection(workspace, ARGS, cache_root=worker)
    assert found is not None and found.reused
    assert (found.nodeids, found.rootdir) == (first.nodeids, first.rootdir)
    assert reused_collection(workspace, ["-k", "a"], cache_root=worker) is None  # other args
    monkeypatch.setenv("DTF_COLLECTION_CACHE", "0")
    assert reused_collection(workspace, ARGS, cache_root=worker) is None


def test_the_quick_lookup_leaves_checkouts_and_environments_to_the_discovery_task(
    project: Path, tmp_path: Path
) -> None:
    workspace, worker = _workspace(project), tmp_path / "worker"
    discover_in_workspace(workspace, ARGS, cache_root=worker)
    built = workspace.model_copy(update={"environment": EnvironmentSpec(packages=("six",))})
    pinned = workspace.model_copy(
        update={"source": PinnedSource(url=str(project), ref="main", sha="0" * 40)}
    )
    assert reused_collection(built, ARGS, cache_root=worker) is None
    assert reused_collection(pinned, ARGS, cache_root=worker) is None


def test_a_collection_error_is_reported_again_on_the_next_run(
    project: Path, tmp_path: Path
) -> None:
    (project / "tests" / "test_broken.py").write_text("import no_such_module\n")
    _age(project)
    workspace, worker = _workspace(project), tmp_path / "worker"
    for _ in range(2):
        found = discover_in_workspace(workspace, ARGS, cache_root=worker)
        assert not found.reused and "tests/test_broken.py" in found.collect_errors
