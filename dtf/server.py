"""Manages a local Prefect server under the dtf home, so flows never use an ephemeral API."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from dtf import services
from dtf.errors import ServerError

DEFAULT_PORT = 4200
START_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class ServerInfo:
    """A running Prefect server: where its API and UI are."""

    api_url: str
    pid: int | None
    managed: bool

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


def server_status(home: Path) -> ServerInfo | None:
    """The managed server, if its process runs and its API answers."""
    state = services.read_state(prefect_home(home) / "server.json")
    if not state or not services.alive(state.get("pid"), state.get("create_time")):
        return None
    info = ServerInfo(api_url=state["api_url"], pid=state["pid"], managed=True)
    return info if healthy(info.api_url) else None


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_server(home: Path, port: int | None = None) -> ServerInfo:
    """Reuse the managed server if it runs, else start one and wait until it answers."""
    running = server_status(home)
    if running is not None:
        return running
    chosen = services.free_port(port or DEFAULT_PORT)
    api_url = f"http://127.0.0.1:{chosen}/api"
    pdir = prefect_home(home)
    log = pdir / "server.log"
    # PREFECT_HOME travels with the dtf home, so each project keeps its own server database.
    prefect = str(Path(sys.executable).with_name("prefect"))
    argv = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(chosen)]
    env = {**os.environ, **server_env(home)}
    env.pop("PREFECT_API_URL", None)  # the server must not try to reach another server
    try:
        pid = services.spawn(argv, log=log, env=env, cwd=pdir)
    except OSError as exc:
        raise ServerError(f"cannot start the Prefect server ({prefect}): {exc}") from exc
    state = {"pid": pid, "create_time": services.started_at(pid), "api_url": api_url}
    services.write_state(pdir / "server.json", state)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if healthy(api_url):
            return ServerInfo(api_url=api_url, pid=pid, managed=True)
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
