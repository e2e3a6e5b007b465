"""The commands that reproduce one test of a run on a person's machine, printed or run.

Every step is an argument list run from a fresh directory (`{repro}` in it stands for that
directory), so what is printed is exactly what `--run` executes.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtf.environments.shard import clean_room_variables
from dtf.environments.spec import EnvironmentSpec, WorkspaceSpec
from dtf.environments.uv import find_uv, install_args
from dtf.errors import DtfError
from dtf.sources.spec import PinnedSource

REPRO = "{repro}"
# Stand-ins in a step: the reproduction's directory, and the PATH of whoever runs it.
_PLACEHOLDER = re.compile(r"\{(repro|path)\}")
_SHELL_NAMES = {"repro": "REPRO", "path": "PATH"}
# A line of `uv pip freeze` that names a version from an index (not a path or a URL).
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[^\s;@]+$")


@dataclass(frozen=True)
class Step:
    """One command: its arguments, directory and extra variables (may hold `{repro}`)."""

    argv: tuple[str, ...]
    cwd: str = REPRO
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reproduction:
    """What is known about the test and how to run it again."""

    run_id: str
    test_id: str
    outcome: str
    worker: str
    hardware: str
    needs: Mapping[str, float]
    steps: tuple[Step, ...]
    secrets: tuple[str, ...] = ()
    # What the worker's environment held (dtf.store.environments), when the run recorded it.
    environment: Mapping[str, Any] = field(default_factory=dict)


def reproduction_steps(
    workspace: WorkspaceSpec | None,
    test_id: str,
    *,
    rootdir: str,
    python: str,
    suite_env: Mapping[str, str],
    installed: Sequence[str] = (),
) -> tuple[Step, ...]:
    """Clone and check out the commit, build the environment, run the one test in a clean
    HOME, as the run's shard did. Without a workspace (a local source), run it in place.

    `installed` is what the worker's environment held (`uv pip freeze`): its versions from an
    index are pinned, so the environment gets what the worker tested with even where the
    requirements leave versions open and the index has moved on since."""
    steps = [Step(("mkdir", "-p", f"{REPRO}/home", f"{REPRO}/tmp"))]
    source = workspace.source if workspace is not None else None
    if isinstance(source, PinnedSource):
        steps += _checkout_steps(source)
        source_dir, run_dir = _join(f"{REPRO}/src", source.subdir), _join(f"{REPRO}/src", rootdir)
    else:
        source_dir, run_dir = (source.path if source is not None else rootdir), rootdir
    environment = workspace.environment if workspace is not None else None
    venv = None
    if environment is not None:
        venv = f"{REPRO}/venv"
        steps += _environment_steps(environment, venv, source_dir, pinned_versions(installed))
        python = f"{venv}/bin/python"
    env = _clean_room(venv, environment.env if environment else {}) | dict(suite_env)
    pytest = (python, "-m", "pytest", "-p", "no:cacheprovider", test_id)
    return (*steps, Step(pytest, cwd=run_dir, env=env))


def _checkout_steps(source: PinnedSource) -> list[Step]:
    src = f"{REPRO}/src"
    detach = ("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", source.sha)
    return [Step(("git", "clone", "--quiet", source.url, src)), Step(("git", "-C", src, *detach))]


def pinned_versions(installed: Sequence[str]) -> tuple[str, ...]:
    """The `name==version` lines of a freeze; paths and URLs of the worker are left out."""
    return tuple(line for line in installed if _PINNED.match(line))


def _environment_steps(
    environment: EnvironmentSpec, venv: str, source_dir: str, pins: tuple[str, ...]
) -> list[Step]:
    steps = [Step(("uv", "venv", "--quiet", "--python", environment.python or "3", venv))]
    # Extra requirements, solved together with the campaign's: uv installs those versions.
    pinned = environment.model_copy(update={"packages": (*environment.packages, *pins)})
    wanted = install_args(pinned, source_dir)
    if wanted:
        install = ("uv", "pip", "install", "--quiet", "--python", f"{venv}/bin/python", *wanted)
        steps.append(Step(install, cwd=source_dir))
    return steps


def render(repro: Reproduction) -> str:
    """A shell script (bash or sh) of the steps, with what the run recorded as comments."""
    needs = ", ".join(f"{k}={v:g}" for k, v in sorted(repro.needs.items())) or "none"
    lines = [
        f"# Reproduce {repro.test_id} of run {repro.run_id}:",
        f"# it was '{repro.outcome}' on worker {repro.worker or '?'} "
        f"(hardware {repro.hardware or '?'}); it needs hardware: {needs}",
    ]
    lines += _environment_comment(repro.environment)
    if repro.secrets:
        lines.append(f"# Set these secrets in your environment first: {', '.join(repro.secrets)}")
    lines.append('REPRO="$(mktemp -d)"')
    cwd = ""
    for step in repro.steps:
        if step.cwd != cwd:
            lines.append(f"cd {_shell(step.cwd)}")
            cwd = step.cwd
        prefix = ["env", *(f"{k}={_shell(v)}" for k, v in step.env.items())] if step.env else []
        lines.append(" ".join([*prefix, *(_shell(a) for a in step.argv)]))
    return "\n".join(lines) + "\n"


def _environment_comment(environment: Mapping[str, Any]) -> list[str]:
    if not environment:
        return []
    packages = [str(p) for p in environment.get("packages", ())]
    return [
        f"# its environment there: lock {str(environment.get('lock_hash', ''))[:12]}, Python "
        f"{environment.get('python') or '?'} on {environment.get('platform') or '?'}, "
        f"{len(packages)} packages (versions from an index are pinned below):",
        *(f"#   {p}" for p in packages),
    ]


def execute(repro: Reproduction, workdir: Path, echo: Callable[[str], None]) -> int:
    """Run the steps in `workdir`; return the last step's (pytest's) exit code.

    A failing setup step raises DtfError with its output.
    """
    missing = [name for name in repro.secrets if name not in os.environ]
    if missing:
        raise DtfError(f"set the secret(s) {', '.join(missing)} in your environment first")
    code = 0
    for index, step in enumerate(repro.steps):
        last = index == len(repro.steps) - 1
        done = _run_step(step, workdir)
        if done.stdout:
            echo(done.stdout.rstrip("\n"))
        code = done.returncode
        if code != 0 and not last:
            raise DtfError(f"`{' '.join(step.argv[:3])}` failed with exit code {code}")
    return code


def _run_step(step: Step, workdir: Path) -> subprocess.CompletedProcess[str]:
    values = {"repro": str(workdir), "path": os.environ.get("PATH", os.defpath)}

    def real(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    argv = [real(a) for a in step.argv]
    if argv[0] == "uv":
        argv[0] = find_uv()
    inherited = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env = inherited | {k: real(v) for k, v in step.env.items()}
    return subprocess.run(
        argv, cwd=real(step.cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _clean_room(venv: str | None, campaign_env: Mapping[str, str]) -> dict[str, str]:
    """The shard's clean-room variables, with `{repro}` for its scratch directory."""
    env = clean_room_variables(REPRO)
    if venv is not None:
        env |= {"VIRTUAL_ENV": venv, "PATH": f"{venv}/bin:{{path}}"}
    return env | dict(campaign_env)


def _join(base: str, relative: str) -> str:
    return base if relative in ("", ".") else f"{base}/{relative}"


def _shell(text: str) -> str:
    """`text` quoted for a shell, with `{repro}` as "$REPRO" and `{path}` as "$PATH"."""
    pieces = _PLACEHOLDER.split(text)  # text, name, text, name, ..., text
    quoted = [
        f'"${_SHELL_NAMES[piece]}"' if index % 2 else (shlex.quote(piece) if piece else "")
        for index, piece in enumerate(pieces)
    ]
    return "".join(quoted)
