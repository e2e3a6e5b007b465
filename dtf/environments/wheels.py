"""Writes wheels without a build backend or a network: tiny packages, and copies of installed ones.

For offline fleets (a wheelhouse of the worker's own pytest for `find_links`), and for tests
and benchmarks that need an index-free installation.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

from dtf.errors import DtfError

# What pip or uv wrote at install time: not part of the wheel that was installed.
_INSTALL_ONLY = {"INSTALLER", "RECORD", "REQUESTED", "direct_url.json"}


def write_wheel(
    dest: Path,
    name: str,
    version: str,
    files: Mapping[str, str | bytes],
    requires: Iterable[str] = (),
) -> Path:
    """A pure-Python wheel of `files` (archive path -> content) that requires `requires`."""
    dist = _escaped(name)
    info = f"{dist}-{version}.dist-info"
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    members = {path: _bytes(content) for path, content in files.items()}
    members[f"{info}/METADATA"] = ("\n".join(lines) + "\n").encode()
    members[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: dtf\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    return _zip(dest / f"{dist}-{version}-py3-none-any.whl", members, info)


def repack_installed(names: Iterable[str], dest: Path) -> list[Path]:
    """Wheels of installed pure-Python distributions (and nothing they depend on)."""
    dest.mkdir(parents=True, exist_ok=True)
    return [_repack(metadata.distribution(name), dest) for name in names]


def _repack(dist: metadata.Distribution, dest: Path) -> Path:
    base = Path(str(dist.locate_file(""))).resolve()
    info = None
    members: dict[str, bytes] = {}
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file))).resolve()
        parts = Path(str(file)).parts
        if ".." in parts or "__pycache__" in parts or path.suffix == ".pyc" or not path.is_file():
            continue  # console scripts (outside site-packages) are made again from entry points
        if parts[0].endswith(".dist-info"):
            info = parts[0]
            if parts[-1] in _INSTALL_ONLY:
                continue
        members[path.relative_to(base).as_posix()] = path.read_bytes()
    wheel_text = members.get(f"{info}/WHEEL", b"").decode()
    if info is None or "Root-Is-Purelib: true" not in wheel_text:
        raise DtfError(f"{dist.metadata['Name']} is not an installed pure-Python wheel")
    file_name = f"{_escaped(dist.metadata['Name'])}-{dist.version}-{_tag(wheel_text)}.whl"
    return _zip(dest / file_name, members, info)


def _tag(wheel_text: str) -> str:
    """The compressed tag set of a WHEEL file's Tag lines (py2-none-any + py3-none-any ->
    py2.py3-none-any): installers only take a wheel whose file name lists their tag."""
    tags = [line.split(":", 1)[1].strip().split("-") for line in wheel_text.splitlines()
            if line.startswith("Tag:")]  # fmt: skip
    if not tags:
        return "py3-none-any"
    return "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))


def _zip(target: Path, members: Mapping[str, bytes], info: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in members.items()]
    record.append(f"{info}/RECORD,,")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(members.items()):
            archive.writestr(path, data)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return target


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _escaped(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content
