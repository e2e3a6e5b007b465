"""First-shard latency on a cold worker (clone + environment build) and on a warm one.

Run: .venv/bin/python benchmarks/worker_warmup.py [--repeat 3] [--tests 50] [--history 200]

Builds, with no network: a git repository (file:// URL) holding a pytest project whose
requirements are a handful of pure-Python packages (click, rich and its dependencies, idna,
attrs, jinja2, six) plus pytest, and a local wheelhouse of them copied from this venv.
Then, per repetition, a "worker" with an empty cache prepares the run's workspace and runs
one shard; a second shard on the same worker finds everything cached. A third case keeps
uv's download cache but builds a new environment (new requirements, known wheels).
Prints the median (min-max) of each phase.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from dtf.environments.build import EnvironmentCache
from dtf.environments.spec import EnvironmentSpec, WorkspaceSpec
from dtf.environments.wheels import repack_installed
from dtf.environments.workspace import plan_workspace, prepare_workspace
from dtf.execution.runner import ShardRequest, run_shard
from dtf.sources.checkout import SourceCache
from dtf.sources.spec import GitSource, PinnedSource

DEPENDENCIES = ("click", "rich", "markdown-it-py", "mdurl", "pygments", "idna", "attrs",
                "jinja2", "markupsafe", "six")  # fmt: skip
PYTEST = ("pytest", "pluggy", "iniconfig", "packaging")
REQUIREMENTS = "pytest\nclick\nrich\nidna\nattrs\njinja2\nsix\n"


def git(cwd: Path, *args: str) -> str:
    argv = ["git", "-c", "user.name=b", "-c", "user.email=b@example.org", *args]
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repository(root: Path, tests: int, history: int) -> str:
    """A repository with `history` commits; its last holds `tests` tests using the deps."""
    repo = root / "project"
    (repo / "tests").mkdir(parents=True)
    git(repo, "init", "--quiet", "-b", "main")
    for index in range(history):
        (repo / "history.txt").write_text(f"change {index}\n" * (index % 50 + 1))
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", f"change {index}")
    (repo / "requirements.txt").write_text(REQUIREMENTS)
    (repo / "pytest.ini").write_text("[pytest]\n")
    body = "import attrs, click, idna, jinja2, rich, six\n\n"
    body += "".join(f"def test_{i}():\n    assert idna.encode('x{i}')\n\n" for i in range(tests))
    (repo / "tests" / "test_deps.py").write_text(body)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "tests")
    return repo.as_uri()


def wheelhouse(root: Path) -> Path:
    wheels = root / "wheels"
    pure = [d for d in (*DEPENDENCIES, *PYTEST) if d != "markupsafe"]
    repack_installed(pure, wheels)
    # markupsafe has a C speed-up, so it is no pure wheel: jinja2 needs it, take it from PyPI's
    # cache if this venv cannot be copied; here a pure fallback module suffices.
    _markupsafe_stub(wheels)
    return wheels


def _markupsafe_stub(wheels: Path) -> None:
    from importlib import metadata

    from dtf.environments.wheels import write_wheel

    version = metadata.version("markupsafe")
    source = Path(str(metadata.distribution("markupsafe").locate_file("markupsafe")))
    files = {f"markupsafe/{p.name}": p.read_bytes() for p in source.glob("*.py")}
    files["markupsafe/py.typed"] = b""
    write_wheel(wheels, "MarkupSafe", version, files)


def shard(workspace: WorkspaceSpec, cache: Path, nodeids: Sequence[str]) -> dict[str, float]:
    """One shard on the worker whose cache is `cache`: phases in seconds."""
    began = time.perf_counter()
    with prepare_workspace(workspace, ".", "", cache_root=cache) as ws:
        prepared = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            request = ShardRequest("s", tuple(nodeids), ws.rootdir, python=ws.python,
                                   env=ws.shard_env(Path(scratch)))  # fmt: skip
            outcome = run_shard(request)
    ended = time.perf_counter()
    assert all(r.outcome == "passed" for r in outcome.results), outcome.counts()
    return {"prepare": prepared - began, "shard": ended - prepared, "total": ended - began}


def _phases(workspace: WorkspaceSpec, cache: Path, figures: dict[str, list[float]]) -> None:
    """The two parts of a cold preparation on their own: the clone, the environment build."""
    source = workspace.source
    assert isinstance(source, PinnedSource) and workspace.environment is not None
    began = time.perf_counter()
    with SourceCache(cache).checkout(source.url, source.sha) as checkout:
        cloned = time.perf_counter()
        with EnvironmentCache(cache).environment(workspace.environment, checkout.path):
            built = time.perf_counter()
    figures.setdefault("cold clone alone", []).append(cloned - began)
    figures.setdefault("cold environment build alone", []).append(built - cloned)


def summary(values: Sequence[float]) -> str:
    return f"{statistics.median(values):6.2f}s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tests", type=int, default=50)
    parser.add_argument("--history", type=int, default=200, help="commits before the tests")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dtf-warmup-"))
    try:
        run(root, args.repeat, args.tests, args.history)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, repeat: int, tests: int, history: int) -> None:
    url = make_repository(root, tests, history)
    wheels = wheelhouse(root)
    spec = EnvironmentSpec(requirements="requirements.txt", find_links=(str(wheels),),
                           no_index=True)  # fmt: skip
    nodeids = [f"tests/test_deps.py::test_{i}" for i in range(tests)]
    figures: dict[str, list[float]] = {}
    for index in range(repeat):
        began = time.perf_counter()
        workspace = plan_workspace(GitSource(git=url, ref="main"), spec,
                                   cache_root=root / f"planner-{index}")  # fmt: skip
        figures.setdefault("plan (ls-remote, clone, hash)", []).append(time.perf_counter() - began)
        _phases(workspace, root / f"phases-{index}", figures)
        cache = root / f"worker-{index}"
        for case in ("cold", "warm"):
            for phase, seconds in shard(workspace, cache, nodeids).items():
                figures.setdefault(f"{case} {phase}", []).append(seconds)
        # New requirements, known wheels: a new environment from uv's warm cache.
        changed = spec.model_copy(update={"packages": ("six",)})
        rebuilt = workspace.model_copy(update={"environment": changed})
        for phase, seconds in shard(rebuilt, cache, nodeids).items():
            figures.setdefault(f"new env, warm uv cache {phase}", []).append(seconds)
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{len(DEPENDENCIES) + len(PYTEST)} wheels, {tests} tests, {history + 1} commits, "
          f"{repeat} repetitions")  # fmt: skip
    for name, values in figures.items():
        print(f"  {name:<36} {summary(values)}")


if __name__ == "__main__":
    sys.exit(main())
