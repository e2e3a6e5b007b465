"""Cached environments per worker, shards in them as in a clean room, and their faults."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dtf.environments.build import EnvironmentCache
from dtf.environments.spec import EnvironmentSpec, WorkspaceSpec
from dtf.environments.workspace import (
    discover_in_workspace,
    plan_workspace,
    prepare_workspace,
    workspace_parameters,
)
from dtf.errors import EnvironmentBuildError, InfrastructureError
from dtf.execution.runner import ShardRequest, run_shard
from dtf.sources.checkout import SourceCache
from dtf.sources.spec import GitSource
from tests.fakes.gitproject import (
    DEMO_TESTS,
    TEST_BELOW_TWO,
    TEST_CLEAN_ROOM,
    TEST_TOKEN,
    TEST_VALUE,
    DemoRepo,
    demo_environment,
    make_demo_repo,
    make_wheelhouse,
)

NO_UV = "/nonexistent/uv"


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def demo(tmp_path: Path) -> DemoRepo:
    return make_demo_repo(tmp_path / "origin")


def _checkout(tmp_path: Path, demo: DemoRepo, sha: str) -> Path:
    with SourceCache(tmp_path / "cache").checkout(demo.url, sha) as checkout:
        return checkout.path  # stays: nothing else is built in this cache to evict it


def _outcomes(workspace: WorkspaceSpec, cache: Path, scratch: Path) -> dict[str, str]:
    """Run the demo's tests as a shard would, on the worker whose cache is `cache`."""
    with prepare_workspace(workspace, ".", "unused", cache_root=cache) as ws:
        request = ShardRequest(
            shard_id="s", nodeids=DEMO_TESTS, rootdir=ws.rootdir, python=ws.python,
            env=ws.shard_env(scratch), scratch=scratch,
        )  # fmt: skip
        outcome = run_shard(request)
    return {r.nodeid: r.outcome for r in outcome.results}


def test_a_second_build_reuses_the_environment_without_running_uv(
    demo: DemoRepo, wheels: Path, tmp_path: Path
) -> None:
    source = _checkout(tmp_path, demo, demo.v1)
    spec = demo_environment(wheels)
    cache = EnvironmentCache(tmp_path / "envs")
    with cache.environment(spec, source) as first:
        assert first.built
        assert "dtfdemo==1.0" in first.packages and first.python_version.startswith("3.")
    # A uv that does not exist: any attempt to run it would fail this lease.
    with EnvironmentCache(tmp_path / "envs", uv=NO_UV).environment(spec, source) as again:
        assert not again.built
        assert (again.key, again.path, again.packages) == (first.key, first.path, first.packages)
    with (
        pytest.raises(InfrastructureError, match="not installed"),
        EnvironmentCache(tmp_path / "cold", uv=NO_UV).environment(spec, source),
    ):
        pass  # the same spec on a cold worker does need uv


def test_different_requirements_get_different_environments(
    demo: DemoRepo, wheels: Path, tmp_path: Path
) -> None:
    cache = EnvironmentCache(tmp_path / "envs")
    spec = demo_environment(wheels)
    with cache.environment(spec, _checkout(tmp_path, demo, demo.v1)) as v1:
        pass
    with cache.environment(spec, _checkout(tmp_path, demo, demo.main)) as main:
        pass
    assert v1.key != main.key and v1.lock_hash != main.lock_hash
    assert "dtfdemo==2.0" in main.packages and "dtfdemo==1.0" not in main.packages


def test_concurrent_shards_wait_for_one_build(demo: DemoRepo, wheels: Path, tmp_path: Path) -> None:
    source = _checkout(tmp_path, demo, demo.v1)
    cache = EnvironmentCache(tmp_path / "envs")
    start = threading.Barrier(3)
    built: list[bool] = []
    errors: list[BaseException] = []

    def shard() -> None:
        try:
            start.wait()
            with cache.environment(demo_environment(wheels), source) as env:
                built.append(env.built)
        except BaseException as exc:  # reported below: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=shard) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(built) == [False, False, True]


def test_an_unresolvable_requirement_is_a_configuration_error_with_uvs_message(
    demo: DemoRepo, wheels: Path, tmp_path: Path
) -> None:
    source = _checkout(tmp_path, demo, demo.v1)
    spec = demo_environment(wheels, packages=("dtf-no-such-package==9.9",))
    cache = EnvironmentCache(tmp_path / "envs")
    with pytest.raises(EnvironmentBuildError) as raised, cache.environment(spec, source):
        pass
    message = str(raised.value)
    assert "No solution found" in message
    assert "dtf-no-such-package was not found in the provided package locations" in message
    assert cache.entries.stored() == [] and cache.entries.evict() == []  # nothing left behind
    assert not any((cache.entries.root / "entries").iterdir())


def test_an_environment_without_pytest_is_refused(
    demo: DemoRepo, wheels: Path, tmp_path: Path
) -> None:
    spec = EnvironmentSpec(packages=("dtfdemo==1.0",), find_links=(str(wheels),), no_index=True)
    with (
        pytest.raises(EnvironmentBuildError, match="add pytest to the requirements"),
        EnvironmentCache(tmp_path / "envs").environment(spec, tmp_path),
    ):
        pass


def test_an_unreachable_index_is_an_infrastructure_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    spec = EnvironmentSpec(packages=("pytest",), index_url="http://127.0.0.1:9/simple")
    cache = EnvironmentCache(tmp_path / "envs")
    with pytest.raises(InfrastructureError) as raised, cache.environment(spec, tmp_path):
        pass
    assert raised.value.error_class == "environment"
    assert "Failed to fetch" in str(raised.value)


def test_shards_on_two_workers_test_each_commit_in_its_own_environment(
    demo: DemoRepo, wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = {}
    for ref in ("v1", "main"):
        source = GitSource(git=demo.url, ref=ref)
        workspace = plan_workspace(source, demo_environment(wheels),
                                   cache_root=tmp_path / "planner")  # fmt: skip
        for worker in ("worker-a", "worker-b"):
            home = tmp_path / worker
            home.mkdir(exist_ok=True)
            monkeypatch.chdir(home)  # the workers share no directory
            scratch = home / f"scratch-{ref}"
            results[ref, worker] = _outcomes(workspace, home / "cache", scratch)
            # The suite's leftovers went to the shard's scratch HOME, not the worker's.
            assert (scratch / "home" / ".cache" / "left-behind").is_file()
    for worker in ("worker-a", "worker-b"):
        assert results["v1", worker] == dict.fromkeys(DEMO_TESTS, "passed")
        assert results["main", worker] == {
            TEST_VALUE: "passed", TEST_BELOW_TWO: "failed", TEST_CLEAN_ROOM: "passed"
        }  # fmt: skip


def test_the_plan_pins_the_commit_and_the_lock_hash_workers_agree_on(
    demo: DemoRepo, wheels: Path, tmp_path: Path
) -> None:
    planned = plan_workspace(GitSource(git=demo.url, ref="main"), demo_environment(wheels),
                             cache_root=tmp_path / "planner")  # fmt: skip
    assert planned.sha == demo.main
    assert planned.environment is not None and planned.environment.python is not None
    recorded = workspace_parameters(planned)["workspace"]
    assert recorded["source"]["sha"] == demo.main and recorded["lock_hash"] == planned.lock_hash
    with prepare_workspace(planned, ".", "unused", cache_root=tmp_path / "worker") as ws:
        assert (ws.sha, ws.lock_hash) == (demo.main, planned.lock_hash)
        assert ws.cloned and ws.built and "dtfdemo==2.0" in ws.record()["packages"]
    with prepare_workspace(planned, ".", "unused", cache_root=tmp_path / "worker") as again:
        assert not again.cloned and not again.built and again.env_key == ws.env_key


def test_discovery_runs_in_the_workspace_and_gives_a_relative_rootdir(
    demo: DemoRepo, wheels: Path, tmp_path: Path
) -> None:
    planned = plan_workspace(GitSource(git=demo.url, ref="v1"), demo_environment(wheels),
                             cache_root=tmp_path / "planner")  # fmt: skip
    found = discover_in_workspace(planned, ["tests"], cache_root=tmp_path / "worker")
    assert found.rootdir == Path(".")
    assert set(found.nodeids) == {*DEMO_TESTS, TEST_TOKEN}
    assert found.collect_errors == {}


def test_secrets_reach_the_shard_and_nothing_on_disk(
    demo: DemoRepo, wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "s3cret-4f1d0b"
    monkeypatch.setenv("DEMO_TOKEN", token)
    spec = demo_environment(wheels, secrets=("DEMO_TOKEN",))
    planned = plan_workspace(GitSource(git=demo.url, ref="v1"), spec,
                             cache_root=tmp_path / "cache")  # fmt: skip
    scratch = tmp_path / "scratch"
    with prepare_workspace(planned, ".", "unused", cache_root=tmp_path / "cache") as ws:
        request = ShardRequest(shard_id="s", nodeids=(TEST_TOKEN,), rootdir=ws.rootdir,
                               python=ws.python, env=ws.shard_env(scratch))  # fmt: skip
        outcome = run_shard(request)
    assert [r.outcome for r in outcome.results] == ["passed"]
    assert token not in planned.model_dump_json()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()]
    assert written and not [p for p in written if token.encode() in p.read_bytes()]


def test_a_missing_secret_is_a_fault_of_the_worker_that_lacks_it(tmp_path: Path) -> None:
    from dtf.environments.shard import shard_environment

    spec = EnvironmentSpec(secrets=("DTF_TEST_ABSENT_SECRET",))
    with pytest.raises(InfrastructureError, match="DTF_TEST_ABSENT_SECRET not set") as raised:
        shard_environment(tmp_path, environment=spec, worker_env={})
    assert raised.value.error_class == "secret"


def test_a_local_source_gets_the_same_environment_and_clean_room(
    demo: DemoRepo, wheels: Path, tmp_path: Path
) -> None:
    planned = plan_workspace(demo.path, demo_environment(wheels))  # the working tree at main
    assert planned.sha is None and planned.source.model_dump() == {"path": str(demo.path)}
    assert planned.lock_hash
    with prepare_workspace(planned, str(demo.path), "unused", cache_root=tmp_path / "w") as ws:
        assert ws.rootdir == demo.path and ws.checkout is None and ws.built
        request = ShardRequest("s", DEMO_TESTS, ws.rootdir, python=ws.python,
                               env=ws.shard_env(tmp_path / "scratch"))  # fmt: skip
        outcome = run_shard(request)
    assert {r.nodeid: r.outcome for r in outcome.results} == {
        TEST_VALUE: "passed", TEST_BELOW_TWO: "failed", TEST_CLEAN_ROOM: "passed"
    }  # fmt: skip
