"""A small pytest project in a local git repository (two commits), and an offline wheelhouse.

At tag v1 the project requires dtfdemo==1.0 and its tests pass; on branch main it requires
dtfdemo==2.0 and one test fails. The wheelhouse holds both dtfdemo versions and copies of
the installed pytest and its dependencies, so environments build without a network.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dtf.environments.spec import EnvironmentSpec
from dtf.environments.wheels import repack_installed, write_wheel

PYTEST_DISTS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")
TEST_VALUE = "tests/test_demo.py::test_value"
TEST_BELOW_TWO = "tests/test_demo.py::test_below_two"
TEST_CLEAN_ROOM = "tests/test_demo.py::test_clean_room"
TEST_TOKEN = "tests/test_token.py::test_token"
DEMO_TESTS = (TEST_VALUE, TEST_BELOW_TWO, TEST_CLEAN_ROOM)

_DEMO_TESTS = """\
import os
import sys
import tempfile
from pathlib import Path

import dtfdemo


def test_value():
    assert dtfdemo.VALUE == {value}


def test_below_two():
    assert dtfdemo.VALUE < 2


def test_clean_room():
    home = Path.home()
    assert home.name == "home"
    assert Path(tempfile.gettempdir()) == home.parent / "tmp"
    assert sys.prefix == os.environ["VIRTUAL_ENV"]
    assert dtfdemo.__file__.startswith(sys.prefix)
    (home / ".cache" / "left-behind").write_text("gone with the scratch")
"""
_TOKEN_TEST = """\
import os


def test_token():
    assert os.environ["DEMO_TOKEN"].startswith("s3cret-")
"""


@dataclass(frozen=True)
class DemoRepo:
    """The repository: its path and file:// URL, and the SHAs of its two commits."""

    path: Path
    url: str
    v1: str
    main: str


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}  # fmt: skip
    unsigned = ["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
    argv = ["git", *unsigned, *args]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_demo_repo(root: Path) -> DemoRepo:
    repo = root / "demo"
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "-b", "main")
    v1 = commit(repo, {
        "pytest.ini": "[pytest]\n",
        "requirements.txt": "pytest\ndtfdemo==1.0\n",
        "tests/test_demo.py": _DEMO_TESTS.format(value=1),
        "tests/test_token.py": _TOKEN_TEST,
    }, "v1")  # fmt: skip
    git(repo, "tag", "-a", "v1", "-m", "version 1")
    main = commit(repo, {
        "requirements.txt": "pytest\ndtfdemo==2.0\n",
        "tests/test_demo.py": _DEMO_TESTS.format(value=2),
    }, "v2")  # fmt: skip
    return DemoRepo(repo, repo.as_uri(), v1, main)


_WHEELHOUSES: dict[Path, Path] = {}


def make_wheelhouse(root: Path) -> Path:
    """dtfdemo 1.0 and 2.0, pytest and its dependencies, as wheels in `root`/wheels."""
    if root in _WHEELHOUSES:
        return _WHEELHOUSES[root]
    wheels = root / "wheels"
    repack_installed(PYTEST_DISTS, wheels)
    for version in ("1.0", "2.0"):
        value = version.split(".")[0]
        write_wheel(wheels, "dtfdemo", version, {"dtfdemo/__init__.py": f"VALUE = {value}\n"})
    _WHEELHOUSES[root] = wheels
    return wheels


def demo_environment(wheels: Path, **extra: object) -> EnvironmentSpec:
    """The demo's environment: its requirements.txt, from the wheelhouse only."""
    fields: dict[str, object] = {"requirements": "requirements.txt",
                                 "find_links": (str(wheels),), "no_index": True}  # fmt: skip
    return EnvironmentSpec.model_validate(fields | extra)
