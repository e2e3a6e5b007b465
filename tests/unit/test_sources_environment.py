"""Environment keys, a shard's clean-room variables, uv arguments and repro's shell quoting."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from dtf.environments.keys import (
    environment_key,
    lock_hash,
    mentions_local_paths,
    python_request,
    requirement_files,
)
from dtf.environments.repro import REPRO, Reproduction, Step, pinned_versions, render
from dtf.environments.shard import (
    process_environment,
    redacted,
    shard_environment,
    worker_variables,
)
from dtf.environments.spec import EnvironmentSpec
from dtf.environments.uv import install_args
from dtf.errors import EnvironmentBuildError


def test_requirement_files_follow_includes_once(tmp_path: Path) -> None:
    (tmp_path / "req").mkdir()
    (tmp_path / "requirements.txt").write_text("-r req/base.txt\n--constraint=req/pins.txt\nsix\n")
    (tmp_path / "req" / "base.txt").write_text("packaging\n-r ../requirements.txt\n")
    (tmp_path / "req" / "pins.txt").write_text("six==1.17.0\n")
    found = requirement_files(tmp_path, "requirements.txt")
    assert sorted(found) == ["req/base.txt", "req/pins.txt", "requirements.txt"]
    with pytest.raises(EnvironmentBuildError, match=r"requirements file nope\.txt is not in"):
        requirement_files(tmp_path, "nope.txt")


def test_the_lock_hash_changes_with_what_gets_installed_only() -> None:
    spec = EnvironmentSpec(requirements="r.txt", packages=("six",), python="3.11")
    files = {"r.txt": b"packaging==26.0\n"}
    base = lock_hash(spec, files)
    assert lock_hash(spec, {"r.txt": b"packaging==26.3\n"}) != base
    assert lock_hash(spec.model_copy(update={"packages": ("six", "iniconfig")}), files) != base
    assert lock_hash(spec.model_copy(update={"python": "3.12"}), files) != base
    # Variables and secrets reach shards, not the environment: the same environment serves.
    same = spec.model_copy(update={"env": {"A": "1"}, "secrets": ("TOKEN",)})
    assert lock_hash(same, files) == base
    two = spec.model_copy(update={"packages": ("six", "iniconfig")})
    swapped = spec.model_copy(update={"packages": ("iniconfig", "six")})
    assert lock_hash(two, files) == lock_hash(swapped, files)  # extra packages form a set


def test_an_environment_that_installs_the_source_belongs_to_its_commit() -> None:
    assert mentions_local_paths({"r.txt": b"-e .\n"})
    assert mentions_local_paths({"r.txt": b"six\n./libs/helper\n"})
    assert not mentions_local_paths({"r.txt": b"six==1.17\n-e git+https://x/y.git#egg=y\n"})
    assert environment_key("lock", "py") == environment_key("lock", "py")
    assert environment_key("lock", "py", "sha1") != environment_key("lock", "py", "sha2")
    assert environment_key("lock", "py").startswith("env-")


def test_this_workers_python_is_used_when_its_version_matches() -> None:
    import sys

    own = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert python_request(EnvironmentSpec(python=own)) == sys.executable
    assert python_request(EnvironmentSpec()) == sys.executable
    assert python_request(EnvironmentSpec(python="3.99")) == "3.99"


def test_a_shard_gets_a_scratch_home_its_venv_first_and_the_campaigns_variables(
    tmp_path: Path,
) -> None:
    spec = EnvironmentSpec(env={"MODE": "strict"}, secrets=("TOKEN",))
    worker = {"PATH": "/usr/bin", "TOKEN": "s3cret", "OTHER": "not passed on by dtf"}
    env = shard_environment(tmp_path, venv=tmp_path / "venv", environment=spec, worker_env=worker)
    assert env["HOME"] == str(tmp_path / "home") and (tmp_path / "home" / ".cache").is_dir()
    assert env["TMPDIR"] == str(tmp_path / "tmp") and (tmp_path / "tmp").is_dir()
    assert env["XDG_CONFIG_HOME"] == str(tmp_path / "home" / ".config")
    assert env["PATH"] == f"{tmp_path / 'venv' / 'bin'}:/usr/bin"
    assert env["VIRTUAL_ENV"] == str(tmp_path / "venv") and env["PYTHONPATH"] == ""
    assert (env["MODE"], env["TOKEN"]) == ("strict", "s3cret") and "OTHER" not in env
    assert redacted(env, spec.secrets)["TOKEN"] == "***"


def test_without_an_environment_the_worker_python_path_is_left_alone(tmp_path: Path) -> None:
    env = shard_environment(tmp_path, worker_env={"PYTHONPATH": "/x"})
    assert "PYTHONPATH" not in env and "VIRTUAL_ENV" not in env and "HOME" in env


def test_a_shards_process_inherits_only_the_allowed_worker_variables(tmp_path: Path) -> None:
    worker = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC",
              "CUDA_VISIBLE_DEVICES": "1", "NVIDIA_DRIVER_CAPABILITIES": "compute",
              "LD_LIBRARY_PATH": "/opt/cuda/lib64", "AWS_SECRET_ACCESS_KEY": "x",
              "PREFECT_API_URL": "http://x", "HOME": "/root", "PYTEST_ADDOPTS": "-x",
              "TOKEN": "s3cret"}  # fmt: skip
    assert set(worker_variables(worker)) == {
        "PATH", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",
        "LD_LIBRARY_PATH",
    }  # fmt: skip
    spec = EnvironmentSpec(env={"TZ": "Europe/Paris", "MODE": "a"}, secrets=("TOKEN",))
    layers = shard_environment(tmp_path, environment=spec, suite_env={"MODE": "b"},
                               worker_env=worker)  # fmt: skip
    env = process_environment({**layers, "DTF_RUN_ID": "r"}, worker)
    # The campaign's variables over the worker's, the suite's over the environment's; the
    # secret it names is copied; HOME is the scratch's; nothing else of the worker crosses.
    assert (env["TZ"], env["MODE"], env["TOKEN"]) == ("Europe/Paris", "b", "s3cret")
    assert env["HOME"] == str(tmp_path / "home") and env["DTF_RUN_ID"] == "r"
    assert not {"AWS_SECRET_ACCESS_KEY", "PREFECT_API_URL", "PYTEST_ADDOPTS"} & set(env)


def test_uv_arguments_take_relative_wheel_directories_from_the_source() -> None:
    spec = EnvironmentSpec(requirements="r.txt", packages=("six<2",), no_index=True,
                           find_links=("wheels", "/abs/wheels", "https://x/simple"),
                           index_url="https://mirror/simple")  # fmt: skip
    assert install_args(spec, "/src") == [
        "-r", "r.txt", "six<2", "--find-links", "/src/wheels", "--find-links", "/abs/wheels",
        "--find-links", "https://x/simple", "--default-index", "https://mirror/simple",
        "--no-index",
    ]  # fmt: skip
    assert install_args(EnvironmentSpec(find_links=("w",)), "/src") == []


def test_only_versions_from_an_index_are_pinned_for_a_reproduction() -> None:
    frozen = ["six==1.17.0", "demo @ file:///worker/cache/tree-abc", "-e file:///w/src",
              "torch==2.5.1+cu121"]  # fmt: skip
    assert pinned_versions(frozen) == ("six==1.17.0", "torch==2.5.1+cu121")


def test_the_rendered_script_quotes_what_a_shell_would_split(tmp_path: Path) -> None:
    odd = "tests/test_a.py::test_b[x y-$HOME-'q']"
    step = Step(("printf", "%s\\n", odd, f"{REPRO}/dir with space"), cwd=REPRO,
                env={"A": "b c", "P": "{path}"})  # fmt: skip
    script = render(Reproduction("r", odd, "failed", "w", "cpu", {}, (step,)))
    assert 'REPRO="$(mktemp -d)"' in script and "it needs hardware: none" in script
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)})  # fmt: skip
    printed, directory = done.stdout.splitlines()
    assert printed == odd
    assert directory.startswith(str(tmp_path)) and directory.endswith("/dir with space")
    assert shlex.quote(odd) in script
