"""A campaign's tests: each suite's collection (or an identical earlier one), pages, commands."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from prefect import get_run_logger

from dtf.browser.pages import discover_pages
from dtf.discovery import Discovered
from dtf.environments.spec import WorkspaceSpec
from dtf.environments.workspace import plan_workspace, probe_cheaply, reused_collection
from dtf.execution.command import command_test_id
from dtf.sources.spec import PinnedSource
from dtf.spec.models import Campaign, Suite
from flows.dask_client import runner_client
from tasks.shards import discover_suite, list_suite_pages


def discover_campaign(
    spec: Campaign, source: Path, keyword: str | None, marker: str | None
) -> tuple[WorkspaceSpec, dict[str, Discovered]]:
    """The run's workspace and each suite's collected tests."""
    # A git ref is pinned to one SHA here, once: every shard of the run tests that commit.
    workspace = plan_workspace(source if isinstance(spec.source, str) else spec.source,
                               spec.environment)  # fmt: skip
    return workspace, _discover(spec, source, workspace, keyword, marker)


def _discover(
    spec: Campaign,
    source: Path,
    workspace: WorkspaceSpec,
    keyword: str | None,
    marker: str | None,
) -> dict[str, Discovered]:
    shipped = workspace.model_dump(mode="json")  # a task parameter: plain JSON
    pytest_suites = [s for s in spec.suites if s.kind == "pytest"]
    args = {s.name: s.select.narrowed(keyword, marker).pytest_args() for s in pytest_suites}
    reused = _reused(workspace, [s for s in pytest_suites if s.cache_collection], args)
    futures = {
        s.name: discover_suite.submit(s.name, shipped, args[s.name], s.cache_collection)
        for s in pytest_suites
        if s.name not in reused
    }
    # A git source's pages are listed in a worker's checkout of the pinned commit.
    pages = {
        s.name: list_suite_pages.submit(s.name, shipped, s.browser.model_dump(mode="json"))
        for s in spec.suites
        if s.browser is not None and isinstance(workspace.source, PinnedSource)
    }
    # A command suite is one test and a local browser suite's tests are its pages: no collection.
    others = {
        s.name: Discovered(rootdir=source, nodeids=_listed_tests(s, source))
        for s in spec.suites
        if s.kind != "pytest" and s.name not in pages
    }
    listed = {
        name: Discovered(rootdir=source, nodeids=future.result()) for name, future in pages.items()
    }
    collected = {**reused, **{name: future.result() for name, future in futures.items()}}
    for name, found in collected.items():
        if found.reused:
            get_run_logger().info("suite %s: %d test ids from an identical earlier collection",
                                  name, len(found.nodeids))  # fmt: skip
    return {**others, **listed, **collected}


def _reused(
    workspace: WorkspaceSpec, suites: list[Suite], args: Mapping[str, list[str]]
) -> dict[str, Discovered]:
    """The suites whose identical earlier collection a worker holds, asked of the workers
    straight through Dask: a discovery task costs a Prefect task run (about 0.2 s) for a few
    milliseconds of work. A miss, or a failed question, leaves the suite to its task."""
    client = runner_client()
    if client is None or not suites or not probe_cheaply(workspace):
        return {}
    probes = {s.name: client.submit(reused_collection, workspace, args[s.name], pure=False)
              for s in suites}  # fmt: skip
    found: dict[str, Discovered] = {}
    for name, probe in probes.items():
        try:
            hit = probe.result()
        except Exception:  # a worker lost mid-question: the discovery task copes and reports
            hit = None
        if hit is not None:
            found[name] = hit
    return found


def _listed_tests(suite: Suite, source: Path) -> list[str]:
    if suite.browser is not None:
        return [page.path for page in discover_pages(suite.browser, source)]
    return [command_test_id(suite.name)]
