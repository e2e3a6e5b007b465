"""The environment variables of one shard's pytest: a clean room inside the shard's scratch."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from pathlib import Path

from dtf.environments.spec import EnvironmentSpec
from dtf.errors import InfrastructureError

# Where programs keep per-user state; all of it goes under the shard's scratch HOME.
_XDG = {
    "XDG_CACHE_HOME": ".cache",
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
}
REDACTED = "***"
# What a shard inherits from the worker's own environment; nothing else crosses over. Locale,
# time zone and search path make programs behave; the GPU variables say which devices and
# driver libraries this worker gives its shards; PYTHONPATH/PYTHONHOME belong to the worker's
# own interpreter, which a shard without a built environment runs with (an environment
# blanks them). Anything else a suite needs comes from the campaign: `env:` for values,
# `environment.secrets` for names copied from the worker.
WORKER_VARIABLES = frozenset({
    "PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME",
    "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
})  # fmt: skip
WORKER_PREFIXES = ("LC_", "NVIDIA_")


def shard_environment(
    scratch: Path,
    *,
    venv: Path | None = None,
    environment: EnvironmentSpec | None = None,
    suite_env: Mapping[str, str] | None = None,
    worker_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Variables to lay over the worker's allowed ones (process_environment) for one shard.

    HOME, the XDG directories and the temporary directory point inside `scratch`, so what a
    suite leaves behind (caches, config, temporary files) goes when the scratch does. With
    a virtual environment, its bin/ comes first on PATH and PYTHONPATH/PYTHONHOME of the
    worker are neutralised (an empty value counts as unset), so the suite sees only what
    the environment installed. Then the campaign's variables (the environment's, then the
    suite's), then the secrets it names, copied from the worker's environment: they reach
    the process and nothing else.
    """
    outer = os.environ if worker_env is None else worker_env
    env = clean_room_variables(str(scratch))
    for folder in {env["HOME"], env["TMPDIR"], *(env[name] for name in _XDG)}:
        Path(folder).mkdir(parents=True, exist_ok=True)
    if venv is not None:
        path = outer.get("PATH", os.defpath)
        env |= {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{path}",
                "PYTHONPATH": "", "PYTHONHOME": ""}  # fmt: skip
    if environment is not None:
        env |= environment.env
    env |= dict(suite_env or {})
    if environment is not None:
        env |= secret_values(environment.secrets, outer)
    return env


def worker_variables(worker_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The part of the worker's environment a shard inherits (WORKER_VARIABLES)."""
    outer = os.environ if worker_env is None else worker_env
    return {k: v for k, v in outer.items()
            if k in WORKER_VARIABLES or k.startswith(WORKER_PREFIXES)}  # fmt: skip


def process_environment(
    layers: Mapping[str, str], worker_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The whole environment of a shard's process: the worker's allowed variables, then
    `layers` (the clean room, the campaign's variables and secrets, dtf's own)."""
    return worker_variables(worker_env) | dict(layers)


def clean_room_variables(scratch: str) -> dict[str, str]:
    """HOME, the XDG directories and the temporary directory, all inside `scratch`."""
    home, tmp = posixpath.join(scratch, "home"), posixpath.join(scratch, "tmp")
    env = {"HOME": home, "TMPDIR": tmp, "TEMP": tmp, "TMP": tmp}
    return env | {name: posixpath.join(home, sub) for name, sub in _XDG.items()}


def secret_values(names: tuple[str, ...], worker_env: Mapping[str, str]) -> dict[str, str]:
    """The named secrets from the worker's environment; a missing one is this worker's fault."""
    missing = [name for name in names if name not in worker_env]
    if missing:
        # Names only: a message can end up in logs, the store and Slack.
        raise InfrastructureError(
            f"secret(s) {', '.join(missing)} not set in this worker's environment",
            error_class="secret",
        )
    return {name: worker_env[name] for name in names}


def redacted(env: Mapping[str, str], secrets: tuple[str, ...]) -> dict[str, str]:
    """`env` fit for a log or a printout: the secrets' values replaced."""
    return {k: (REDACTED if k in secrets else v) for k, v in env.items()}
