"""`dtf deploy`: create the work pools prefect.yaml names, then register its deployments."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from dtf.cli.app import app, console
from dtf.cli.services import prefect_server
from dtf.config import dtf_home
from dtf.errors import DtfError
from dtf.server import server_env

DEFAULT_PREFECT_FILE = Path("deployments/prefect.yaml")
PREFECT_TIMEOUT_SECONDS = 300
REGISTERED = re.compile(r"Deployment '([^']+)' successfully (?:created|updated)")


@app.command()
def deploy(
    prefect_file: Annotated[
        Path, typer.Option("--prefect-file", help="The deployments file.")
    ] = DEFAULT_PREFECT_FILE,
    names: Annotated[
        list[str] | None,
        typer.Option("--name", "-n", help="Only this deployment (repeatable); default: all."),
    ] = None,
) -> None:
    """Register the deployments of a prefect.yaml against the configured Prefect server.

    Run it from the repository root: that directory becomes the deployments' working
    directory, where their campaign paths resolve.
    """
    pools = work_pools(prefect_file)
    server = prefect_server(dtf_home())
    env = {**os.environ, "PREFECT_API_URL": server.api_url, "COLUMNS": "200"}
    if server.managed:
        env.update(server_env(dtf_home()))
    for pool in pools:
        if _prefect(env, "work-pool", "inspect", pool, check=False).returncode != 0:
            _prefect(env, "work-pool", "create", pool, "--type", "process")
            console.print(f"created work pool '{pool}' (process)")
    selection = [arg for name in names or [] for arg in ("--name", name)] or ["--all"]
    done = _prefect(env, "--no-prompt", "deploy", *selection, "--prefect-file", str(prefect_file))
    for name in REGISTERED.findall(done.stdout):
        console.print(f"registered deployment {name}", highlight=False)
    console.print(f"Prefect UI: {server.ui_url}")
    for pool in pools:
        console.print(f"start a worker: PREFECT_API_URL={server.api_url} "
                      f"prefect worker start --pool {pool}", highlight=False)  # fmt: skip


def work_pools(prefect_file: Path) -> list[str]:
    """The work pools the file's deployments name, in order; an error if the file is unusable."""
    try:
        data: Any = yaml.safe_load(prefect_file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DtfError(f"{prefect_file}: no such deployments file (run `dtf deploy` from the "
                       "repository root, or pass --prefect-file)") from exc  # fmt: skip
    except (OSError, yaml.YAMLError) as exc:
        raise DtfError(f"{prefect_file}: cannot read the deployments file: {exc}") from exc
    deployments = data.get("deployments") if isinstance(data, dict) else None
    if not isinstance(deployments, list) or not deployments:
        raise DtfError(f"{prefect_file}: field 'deployments': no deployments listed")
    pools: list[str] = []
    for index, entry in enumerate(deployments):
        pool = (entry.get("work_pool") or {}).get("name") if isinstance(entry, dict) else None
        if not isinstance(pool, str) or not pool:
            raise DtfError(f"{prefect_file}: field 'deployments.{index}.work_pool.name': missing")
        if pool not in pools:
            pools.append(pool)
    return pools


def _prefect(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    # The prefect CLI, not its Python API: dtf itself never imports Prefect.
    prefect = str(Path(sys.executable).with_name("prefect"))
    try:
        done = subprocess.run(
            [prefect, *args], env=env, capture_output=True, text=True,
            timeout=PREFECT_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DtfError(f"prefect {' '.join(args)} failed: {exc}") from exc
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise DtfError(f"prefect {' '.join(args)} exited {done.returncode}:\n{tail}")
    return done
