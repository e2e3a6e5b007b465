"""Where dtf keeps its state: the project-local home (.dtf/) and the results store URL."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "DTF_HOME"
DATABASE_ENV = "DTF_DATABASE_URL"


def dtf_home() -> Path:
    """The project-local state directory: $DTF_HOME, else .dtf/ in the working directory."""
    return Path(os.environ.get(HOME_ENV) or ".dtf").resolve()


def database_url() -> str:
    """$DTF_DATABASE_URL, else a DuckDB file in the dtf home."""
    url = os.environ.get(DATABASE_ENV)
    if url:
        return url
    return f"duckdb:///{dtf_home() / 'dtf.duckdb'}"
