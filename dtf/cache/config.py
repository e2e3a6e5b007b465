"""Where a worker's caches live ($DTF_CACHE, else ~/.cache/dtf) and how large they may grow."""

from __future__ import annotations

import os
from pathlib import Path

from dtf.errors import DtfError

CACHE_ENV = "DTF_CACHE"
MAX_GB_ENV = "DTF_CACHE_MAX_GB"
DEFAULT_MAX_GB = 20.0
GIB = 1024**3


def cache_root() -> Path:
    """$DTF_CACHE, else ~/.cache/dtf (the worker's own home, not a shard's scratch HOME)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".cache" / "dtf"


def max_bytes() -> int:
    """The size bound of each cache (sources, environments): $DTF_CACHE_MAX_GB, default 20."""
    text = os.environ.get(MAX_GB_ENV) or ""
    try:
        gigabytes = float(text) if text else DEFAULT_MAX_GB
    except ValueError:
        raise DtfError(f"${MAX_GB_ENV} must be a number of gigabytes, not {text!r}") from None
    return max(0, int(gigabytes * GIB))
