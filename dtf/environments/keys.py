"""Names a cached environment: a hash of what decides its contents, on this worker's platform."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import sysconfig
from pathlib import Path

from dtf.environments.spec import EnvironmentSpec
from dtf.errors import EnvironmentBuildError

# Bumped when the way environments are built changes, so no worker reuses an old layout.
BUILDER_VERSION = "1"
_INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+|(?=\S))(\S+)")
_LOCAL = re.compile(r"^\s*(?:(?:-e|--editable)(?:\s*=\s*|\s+)(?!\w+\+)|\.{1,2}(?:/|$)|/|file:)")
MAX_INCLUDES = 64


def requirement_files(source_root: Path, requirements: str) -> dict[str, bytes]:
    """The requirements file and every file it includes (-r, -c), by path under the source."""
    found: dict[str, bytes] = {}
    pending = [requirements]
    while pending and len(found) < MAX_INCLUDES:
        name = pending.pop(0)
        path = (source_root / name).resolve()
        label = _label(path, source_root)
        if label in found:
            continue
        if not path.is_file():
            raise EnvironmentBuildError(
                f"requirements file {name} is not in the source {source_root}"
            )
        content = path.read_bytes()
        found[label] = content
        text = content.decode("utf-8", errors="replace")
        for match in (_INCLUDE.match(line) for line in text.splitlines()):
            if match and "://" not in match.group(1):
                pending.append(str(Path(label).parent / match.group(1)))
    return found


def mentions_local_paths(files: dict[str, bytes]) -> bool:
    """Whether the requirements install something from the source tree (`-e .`, `./pkg`).

    Such an environment depends on the checked-out commit, not only on the file's text.
    """
    lines = (
        line for content in files.values() for line in content.decode(errors="replace").splitlines()
    )
    return any(_LOCAL.match(line) for line in lines)


def lock_hash(spec: EnvironmentSpec, files: dict[str, bytes]) -> str:
    """The hash of everything in the spec and the source that decides what gets installed."""
    digests = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    payload = {
        "files": dict(sorted(digests.items())),
        "requirements": spec.requirements, "packages": sorted(spec.packages),
        "python": spec.python, "find_links": list(spec.find_links),
        "index_url": spec.index_url, "no_index": spec.no_index,
    }  # fmt: skip
    return _digest(payload)


def python_request(spec: EnvironmentSpec) -> str:
    """What to ask uv for: this worker's own interpreter when its version matches the spec
    (no search, no download), else the version itself for uv to find."""
    wanted = spec.python
    own = ".".join(str(part) for part in sys.version_info[:3])
    if wanted is None or own == wanted or own.startswith(wanted + "."):
        return sys.executable
    return wanted


def environment_key(lock: str, python: str, source_sha: str | None = None) -> str:
    """The cache key of an environment on this worker: lock hash, interpreter, platform."""
    payload = {
        "lock": lock, "python": python, "platform": platform_tag(),
        "source": source_sha or "", "builder": BUILDER_VERSION,
    }  # fmt: skip
    return "env-" + _digest(payload)[:24]


def platform_tag() -> str:
    """This worker's platform as wheels see it (os, architecture, interpreter ABI)."""
    return f"{sysconfig.get_platform()}-{sys.implementation.cache_tag}"


def _label(path: Path, source_root: Path) -> str:
    try:
        return path.relative_to(source_root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()  # included from outside the source (a local path campaign)


def _digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
