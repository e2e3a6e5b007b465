"""What the `dtf` client and the warm launcher share: paths, the compatibility key, framing.

Standard library only: the client imports this before anything heavy, on every `dtf` call.
"""

from __future__ import annotations

import hashlib
import json
import os
import site
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dtf.fingerprint import code_fingerprint

# DTF_WARM=0 turns the warm launcher off: no delegation and no launcher started.
WARM_ENV = "DTF_WARM"
# Set in a launcher's child, so a command run there never starts another launcher.
CHILD_ENV = "DTF_WARM_CHILD"
# Commands a launcher's child may run: they start a campaign or read the store. Commands that
# start, stop or serve processes (server, cluster, down, worker) always run in the client.
WARM_COMMANDS = frozenset({"run", "plan", "show", "report"})
# Parts of the key that, when they differ, mean the launcher runs stale code and should go.
STALE_PARTS = ("code", "packages", "python")
_MAX_MESSAGE = 16 * 1024 * 1024
# AF_UNIX paths are limited to 108 bytes on Linux.
_MAX_SOCKET_PATH = 100


def warm_dir(home: Path) -> Path:
    return home / "warm"


def state_path(home: Path) -> Path:
    return warm_dir(home) / "launcher.json"


def log_path(home: Path) -> Path:
    return warm_dir(home) / "launcher.log"


def socket_path(home: Path) -> Path:
    """The launcher's socket: in the dtf home, or (for a long home path) a private temp dir."""
    inside = warm_dir(home) / "launcher.sock"
    if len(str(inside)) <= _MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"dtf-warm-{os.getuid()}" / f"{digest}.sock"


def enabled(env: Mapping[str, str]) -> bool:
    return env.get(WARM_ENV, "1") != "0" and not env.get(CHILD_ENV)


def eligible(argv: list[str]) -> bool:
    """Whether `dtf ARGV` may run in a launcher's child."""
    return bool(argv) and argv[0] in WARM_COMMANDS


def compatibility_key() -> dict[str, str]:
    """What a launcher's imports depend on; a client delegates only when its key is equal."""
    packages = [p for p in site.getsitepackages() if os.path.isdir(p)]
    # A site-packages directory's mtime changes when a distribution is installed or removed.
    stamps = ",".join(f"{p}:{os.stat(p).st_mtime_ns}" for p in packages)
    return {
        # The environment (prefix) and interpreter, however the script named it.
        "python": f"{sys.prefix} {os.path.realpath(sys.executable)} {sys.version}",
        "code": code_fingerprint(),
        "packages": hashlib.sha256(stamps.encode()).hexdigest()[:16],
        "pythonpath": os.environ.get("PYTHONPATH", ""),
    }


def stale_parts(mine: Mapping[str, str], theirs: Mapping[str, str]) -> list[str]:
    return [part for part in STALE_PARTS if mine.get(part) != theirs.get(part)]


def send_message(
    sock: socket.socket, message: Mapping[str, Any], fds: list[int] | None = None
) -> None:
    """One JSON message, length-prefixed; `fds` travel with its first bytes (SCM_RIGHTS)."""
    body = json.dumps(dict(message)).encode()
    data = len(body).to_bytes(8, "big") + body
    sent = socket.send_fds(sock, [data], fds) if fds else sock.send(data)
    if sent < len(data):
        sock.sendall(data[sent:])


class MessageReader:
    """Reads length-prefixed JSON messages from a stream socket, keeping what it read ahead."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def receive(self, max_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
        """The next message and any descriptors sent with it; (None, []) when the peer closed."""
        fds: list[int] = []
        if max_fds and not self.buffer:
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, max_fds)
            self.buffer += data
            if not data:
                return None, fds
        if not self._fill(8):
            return None, fds
        size = int.from_bytes(self.buffer[:8], "big")
        if size > _MAX_MESSAGE:
            raise ValueError(f"warm launcher message of {size} bytes")
        if not self._fill(8 + size):
            return None, fds
        body, self.buffer = self.buffer[8 : 8 + size], self.buffer[8 + size :]
        message = json.loads(body)
        return (message if isinstance(message, dict) else None), fds

    def _fill(self, count: int) -> bool:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buffer += chunk
        return True
