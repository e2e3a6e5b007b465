"""Builds a campaign's virtual environment with uv, once per worker and key, and caches it.

dtf's pytest plugin must load in every shard (`-p dtf`), but dtf itself is not installed
into the environment: that would need a build of dtf and could clash with the suite's own
pins. Instead the environment gets a `.pth` file naming a private directory that holds
only a symbolic link to this worker's `dtf` package and a small `.dist-info` declaring the
`pytest11` entry point. The plugin needs nothing but pytest and the standard library, and
the link always points at the dtf that runs the shard, so runner and plugin never disagree.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dtf
from dtf.cache import config
from dtf.cache.entries import EntryCache
from dtf.environments.keys import (
    environment_key,
    lock_hash,
    mentions_local_paths,
    python_request,
    requirement_files,
)
from dtf.environments.spec import EnvironmentSpec
from dtf.environments.uv import find_uv, install_args, run_uv
from dtf.errors import EnvironmentBuildError, InfrastructureError

PLUGIN_DIR = "dtf-plugin"
PLUGIN_DIST = "dtf_shard_plugin"
CHECK_TIMEOUT_SECONDS = 120.0
_FIND_PLUGIN = (
    "import importlib.util as u, sys; "
    "sys.exit(0 if u.find_spec('pytest') and u.find_spec('dtf.execution.plugin') else 1)"
)
_PROBE = (
    "import sys, sysconfig; print(sysconfig.get_paths()['purelib']); print(sys.version.split()[0])"
)


@dataclass(frozen=True)
class BuiltEnvironment:
    """A complete environment on this worker, leased: not evicted while the lease lasts."""

    key: str
    path: Path
    python: str  # the environment's interpreter
    lock_hash: str
    python_version: str
    packages: tuple[str, ...]  # `uv pip freeze`, as installed
    built: bool  # this call built it (False: a cache hit, uv was not run)


class EnvironmentCache:
    """Virtual environments under <cache>/envs, bounded in size, LRU-evicted; uv's own
    download cache is shared by all of them under <cache>/uv."""

    def __init__(
        self, root: Path | None = None, max_bytes: int | None = None, uv: str | None = None
    ):
        base = (root if root is not None else config.cache_root()).absolute()
        bound = max_bytes if max_bytes is not None else config.max_bytes()
        self.entries = EntryCache(base / "envs", bound)
        self.uv_cache = base / "uv"
        self._uv = uv

    @contextmanager
    def environment(
        self, spec: EnvironmentSpec, source_root: Path, source_sha: str | None = None
    ) -> Iterator[BuiltEnvironment]:
        """The environment `spec` describes for the source at `source_root`, built if missing."""
        files = requirement_files(source_root, spec.requirements) if spec.requirements else {}
        lock = lock_hash(spec, files)
        python = python_request(spec)
        # An environment that installs from the source tree belongs to that commit only.
        key = environment_key(lock, python, source_sha if mentions_local_paths(files) else None)

        def build(path: Path) -> dict[str, object]:
            return self._build(path, spec, source_root, python) | {"lock_hash": lock}

        with self.entries.lease(key, build) as entry:
            info = entry.info
            yield BuiltEnvironment(
                key=key, path=entry.path, python=str(entry.path / "bin" / "python"),
                lock_hash=str(info.get("lock_hash", lock)),
                python_version=str(info.get("python_version", "")),
                packages=tuple(str(p) for p in info.get("packages", ())), built=entry.built,
            )  # fmt: skip

    def _build(
        self, path: Path, spec: EnvironmentSpec, source_root: Path, python: str
    ) -> dict[str, object]:
        uv = self._uv or find_uv()
        env = self._uv_env()
        run_uv(uv, ["venv", "--quiet", "--no-project", "--python", python, str(path)],
               cwd=path.parent, env=env)  # fmt: skip
        interpreter = str(path / "bin" / "python")
        wanted = install_args(spec, str(source_root))
        if wanted:
            run_uv(uv, ["pip", "install", "--quiet", "--python", interpreter, *wanted],
                   cwd=source_root, env=env)  # fmt: skip
        frozen = run_uv(uv, ["pip", "freeze", "--python", interpreter], cwd=path, env=env)
        purelib, version = _probe(interpreter)
        link_dtf(path, Path(purelib))
        _check_pytest(interpreter)
        # One requirement a line: a direct reference (`name @ file:///...`) holds spaces.
        packages = [line.strip() for line in frozen.splitlines() if line.strip()]
        return {"python_version": version, "packages": packages}

    def _uv_env(self) -> dict[str, str]:
        env = {**os.environ, "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR") or str(self.uv_cache)}
        # A fleet worker that downloads Python builds on its own is a surprise; a worker that
        # wants it says so with UV_PYTHON_DOWNLOADS.
        env.setdefault("UV_PYTHON_DOWNLOADS", "never")
        env.pop("VIRTUAL_ENV", None)  # the worker's own venv is not the one being built
        return env


def link_dtf(environment: Path, purelib: Path) -> None:
    """Make this worker's dtf plugin loadable in `environment` (see the module docstring)."""
    private = environment / PLUGIN_DIR
    info = private / f"{PLUGIN_DIST}-{dtf.__version__}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PLUGIN_DIST}\nVersion: {dtf.__version__}\n",
        encoding="utf-8",
    )
    (info / "entry_points.txt").write_text(
        "[pytest11]\ndtf = dtf.execution.plugin\n", encoding="utf-8"
    )
    link = private / "dtf"
    if not link.is_symlink():
        link.symlink_to(Path(dtf.__file__).resolve().parent, target_is_directory=True)
    (purelib / "_dtf_shard_plugin.pth").write_text(f"{private}\n", encoding="utf-8")


def _probe(python: str) -> tuple[str, str]:
    done = _python(python, _PROBE)
    if done.returncode != 0:
        why = done.stderr.strip()[-500:]
        raise InfrastructureError(
            f"the new environment's {python} does not start: {why}", error_class="environment"
        )
    purelib, version = done.stdout.split()
    return purelib, version


def _check_pytest(python: str) -> None:
    # Found, not imported: importing would compile pytest's bytecode here, a second or two
    # that the first shard pays anyway.
    done = _python(python, _FIND_PLUGIN)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pytest is not installed"])[-1]
        raise EnvironmentBuildError(
            "the environment cannot run dtf's shards: pytest (and dtf's plugin) must import "
            f"in it; add pytest to the requirements ({last})"
        )


def _python(python: str, code: str) -> subprocess.CompletedProcess[str]:
    # Isolated (-I): neither the worker's working directory nor PYTHONPATH may supply a
    # module the environment lacks, or the check would pass where a shard then fails.
    return subprocess.run(
        [python, "-I", "-c", code], capture_output=True, text=True,
        timeout=CHECK_TIMEOUT_SECONDS, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
