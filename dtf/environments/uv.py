"""Runs uv (the installer) and turns its failures into dtf's faults, with uv's own message."""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from dtf.environments.spec import EnvironmentSpec
from dtf.errors import EnvironmentBuildError, InfrastructureError

UV_ENV = "DTF_UV"
INSTALL_TIMEOUT_SECONDS = 1800.0
MESSAGE_CHARS = 3000
# uv's words for a network that failed: another try, or another worker, may succeed.
_TRANSIENT = (
    "failed to fetch", "error sending request", "tcp connect error", "dns error",
    "connection refused", "connection reset", "timed out", "request failed after",
    "failed to download", "no interpreter found", "failed to read `--find-links`",
    "no space left",
)  # fmt: skip
# uv's words for requirements that cannot be met as written: the campaign must change.
_PERMANENT = (
    "no solution found", "unsatisfiable", "not found in the package registry",
    "not found in the provided package locations", "failed to parse", "failed to build",
    "file not found", "no such file or directory",
)  # fmt: skip


def find_uv() -> str:
    """$DTF_UV, else `uv` beside this interpreter (the `uv` package), else on PATH."""
    configured = os.environ.get(UV_ENV)
    if configured:
        return configured
    beside = Path(sys.executable).with_name("uv")
    if beside.is_file():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise InfrastructureError(
            "uv is not installed on this worker (install the `uv` package or set $DTF_UV)",
            error_class="environment",
        )
    return found


def run_uv(
    uv: str,
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = INSTALL_TIMEOUT_SECONDS,
) -> str:
    """Run `uv ARGS`; return stdout. Failures raise EnvironmentBuildError or InfrastructureError."""
    try:
        done = subprocess.run(
            [uv, "--no-config", *args], cwd=cwd, env=dict(env), capture_output=True,
            text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise InfrastructureError(f"uv ({uv}) is not installed on this worker",
                                  error_class="environment") from None  # fmt: skip
    except subprocess.TimeoutExpired:
        raise InfrastructureError(f"uv {' '.join(args[:2])} did not finish in {timeout:g}s",
                                  error_class="environment") from None  # fmt: skip
    if done.returncode != 0:
        raise uv_fault(args, done.stderr or done.stdout)
    return done.stdout


def uv_fault(args: Sequence[str], message: str) -> EnvironmentBuildError | InfrastructureError:
    """What a failed uv command stands for: a network failure (or a worker without the asked
    Python) is an infrastructure fault; requirements that do not resolve are a configuration
    error of the campaign."""
    text = (message.strip() or "(no message)")[-MESSAGE_CHARS:]
    what = f"uv {' '.join(args[:2])} failed: {text}"
    lowered = text.lower()
    if any(marker in lowered for marker in _TRANSIENT):
        return InfrastructureError(what, error_class="environment")
    if any(marker in lowered for marker in _PERMANENT):
        return EnvironmentBuildError(what)
    return InfrastructureError(what, error_class="environment")


def install_args(spec: EnvironmentSpec, source_root: str) -> list[str]:
    """The arguments of `uv pip install` for `spec`; relative wheel directories are taken
    from the source directory. Empty when there is nothing to install."""
    args: list[str] = []
    if spec.requirements:
        args += ["-r", spec.requirements]
    args += list(spec.packages)
    if not args:
        return []
    for location in spec.find_links:
        remote = "://" in location or posixpath.isabs(location)
        args += ["--find-links", location if remote else posixpath.join(source_root, location)]
    if spec.index_url:
        args += ["--default-index", spec.index_url]
    if spec.no_index:
        args.append("--no-index")
    return args
