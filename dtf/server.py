"""Manages a local Prefect server under the dtf home, so flows never use an ephemeral API."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dtf import services
from dtf.errors import ServerError

DEFAULT_PORT = 4200
START_TIMEOUT_SECONDS = 120.0
# The Prefect server's own database (flow runs, deployments): SQLite in the dtf home unless
# this names a PostgreSQL database. Not the results store, which is DTF_DATABASE_URL.
SERVER_DATABASE_ENV = "DTF_SERVER_DATABASE_URL"


@dataclass(frozen=True)
class ServerInfo:
    """A running Prefect server: where its API and UI are."""

    api_url: str
    pid: int | None
    managed: bool
    database: str = ""  # where the server keeps its state, password hidden; "" if unknown

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def prefect_home(home: Path) -> Path:
    return home / "prefect"


def server_env(home: Path) -> dict[str, str]:
    """Settings for the managed server and for clients that talk to it."""
    return {
        "PREFECT_HOME": str(prefect_home(home)),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # DESIGN.md section 6: batching the task-run recorder cut catch-up after bursts 3-5x.
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    }


def server_database_url(home: Path) -> str:
    """The server's database as Prefect wants it: $DTF_SERVER_DATABASE_URL, else SQLite."""
    configured = os.environ.get(SERVER_DATABASE_ENV)
    if not configured:
        return f"sqlite+aiosqlite:///{prefect_home(home) / 'prefect.db'}"
    try:
        url = make_url(configured)
    except ArgumentError as exc:
        raise ServerError(f"{SERVER_DATABASE_ENV} is not a database URL: {exc}") from exc
    if url.get_backend_name() != "postgresql":
        raise ServerError(
            f"{SERVER_DATABASE_ENV} must name a PostgreSQL database "
            f"(postgresql://user:password@host:5432/name), not {url.drivername}"
        )
    # Prefect's server is async: whatever driver the URL names, it needs asyncpg.
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def shown_database(url: str) -> str:
    """A database URL fit to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def server_status(home: Path) -> ServerInfo | None:
    """The managed server, if its process runs and its API answers."""
    state = services.read_state(prefect_home(home) / "server.json")
    if not state or not services.alive(state.get("pid"), state.get("create_time")):
        return None
    info = ServerInfo(api_url=state["api_url"], pid=state["pid"], managed=True,
                      database=state.get("database", ""))  # fmt: skip
    return info if healthy(info.api_url) else None


def server_version(api_url: str, timeout: float = 5.0) -> str | None:
    """The server's Prefect version, or None if it does not say."""
    try:
        response = httpx.get(f"{api_url}/admin/version", timeout=timeout)
        return str(response.json()) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def describe_server(info: ServerInfo) -> list[str]:
    """Lines for `dtf server status`: where the UI, API and database are, and what runs."""
    lines = [f"UI:       {info.ui_url}", f"API:      {info.api_url}"]
    lines += [f"pid:      {info.pid}"] if info.pid else []
    lines += [f"database: {info.database}"] if info.database else []
    version = server_version(info.api_url)
    lines += [f"Prefect:  {version}"] if version else []
    return lines


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    # Over plain HTTP there is no certificate to check: not loading the CA bundle saves
    # 25 ms on every command that looks for the server.
    verify = not api_url.startswith("http://")
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_server(home: Path, port: int | None = None) -> ServerInfo:
    """Reuse the managed server if it runs on the configured database, else (re)start it."""
    database_url = server_database_url(home)
    database = shown_database(database_url)
    running = server_status(home)
    # A server started before the database setting changed would keep writing to the old one.
    if running is not None and running.database in {database, ""}:
        return running
    if running is not None:
        stop_server(home)
    chosen = services.free_port(port or DEFAULT_PORT)
    api_url = f"http://127.0.0.1:{chosen}/api"
    pdir = prefect_home(home)
    log = pdir / "server.log"
    # PREFECT_HOME travels with the dtf home, so each project keeps its own server database.
    prefect = str(Path(sys.executable).with_name("prefect"))
    argv = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(chosen)]
    env = {
        **os.environ,
        **server_env(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url,
        # Without these the UI's pages ask port 4200 for their data, whatever --port says:
        # another project's server there, or none.
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(chosen),
        "PREFECT_SERVER_UI_API_URL": api_url,
    }
    env.pop("PREFECT_API_URL", None)  # the server must not try to reach another server
    try:
        pid = services.spawn(argv, log=log, env=env, cwd=pdir)
    except OSError as exc:
        raise ServerError(f"cannot start the Prefect server ({prefect}): {exc}") from exc
    state = {"pid": pid, "create_time": services.started_at(pid), "api_url": api_url,
             "database": database}  # fmt: skip
    services.write_state(pdir / "server.json", state)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if healthy(api_url):
            return ServerInfo(api_url=api_url, pid=pid, managed=True, database=database)
        if not services.alive(pid):
            raise ServerError(
                f"the Prefect server exited during start-up; last lines of {log}:\n"
                + services.log_tail(log)
            )
        time.sleep(0.5)
    services.stop(pid)
    raise ServerError(
        f"the Prefect server did not answer at {api_url} within {START_TIMEOUT_SECONDS:g}s; "
        f"see {log}"
    )


def stop_server(home: Path) -> bool:
    state = services.read_state(prefect_home(home) / "server.json")
    if not state:
        return False
    stopped = services.stop(state.get("pid"), state.get("create_time"))
    (prefect_home(home) / "server.json").unlink(missing_ok=True)
    return stopped
