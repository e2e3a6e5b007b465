"""A fingerprint of dtf's installed code, so long-lived workers never run stale modules."""

from __future__ import annotations

import hashlib
from importlib.util import find_spec
from pathlib import Path

PACKAGES = ("dtf", "tasks", "flows")


def code_fingerprint() -> str:
    """Hash of the names, sizes and modification times of dtf's Python files.

    A Dask scheduler and its workers keep the modules they imported; a cluster started before
    dtf's code changed would unpickle new task graphs against old code, so a changed
    fingerprint makes dtf restart the local cluster.
    """
    digest = hashlib.sha256()
    for package in PACKAGES:
        spec = find_spec(package)
        for root in spec.submodule_search_locations or [] if spec else []:
            for path in sorted(Path(root).rglob("*.py")):
                stat = path.stat()
                digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
