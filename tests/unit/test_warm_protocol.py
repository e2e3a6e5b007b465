"""The warm launcher's protocol: socket paths, eligibility, the key and message framing."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from dtf.warm.protocol import (
    MessageReader,
    compatibility_key,
    eligible,
    enabled,
    send_message,
    socket_path,
    stale_parts,
)


def test_a_short_home_keeps_its_socket_and_a_long_one_gets_a_private_temp_path() -> None:
    assert socket_path(Path("/srv/ci/.dtf")) == Path("/srv/ci/.dtf/warm/launcher.sock")
    long_home = Path("/tmp/" + "x" * 120)
    path = socket_path(long_home)
    assert len(str(path)) < 108 and path.parent.name == f"dtf-warm-{os.getuid()}"
    assert socket_path(long_home) == path != socket_path(Path("/tmp/" + "y" * 120))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["run", "c.yaml"], True), (["plan", "c.yaml"], True), (["show", "r"], True),
     (["down"], False), (["server", "up"], False), (["worker"], False), ([], False)],
)  # fmt: skip
def test_only_commands_that_start_no_service_are_delegated(argv: list[str], expected: bool) -> None:
    assert eligible(argv) is expected


def test_warm_launching_is_off_with_dtf_warm_0_and_inside_a_child() -> None:
    assert enabled({}) and enabled({"DTF_WARM": "1"})
    assert not enabled({"DTF_WARM": "0"}) and not enabled({"DTF_WARM_CHILD": "1"})


def test_changed_code_or_packages_make_a_launcher_stale_but_an_import_path_does_not() -> None:
    key = compatibility_key()
    assert set(key) == {"python", "code", "packages", "pythonpath"}
    assert stale_parts(key, {**key, "code": "other"}) == ["code"]
    assert stale_parts(key, {**key, "packages": "other", "python": "x"}) == ["packages", "python"]
    assert stale_parts(key, {**key, "pythonpath": "/elsewhere"}) == []


def test_messages_keep_their_boundaries_and_descriptors_travel_with_the_first() -> None:
    left, right = socket.socketpair()
    read_end, write_end = os.pipe()
    with left, right:
        big = {"env": {f"V{i}": "x" * 100 for i in range(2000)}}  # past one recv's 64 KiB

        def send_all() -> None:  # a thread: the messages outgrow the socket's buffer
            send_message(left, big, fds=[write_end])
            send_message(left, {"pid": 7})
            send_message(left, {"exit": 3})

        sender = threading.Thread(target=send_all)
        sender.start()
        reader = MessageReader(right)
        first, fds = reader.receive(max_fds=3)
        assert first == big and len(fds) == 1
        os.write(fds[0], b"hi")
        assert os.read(read_end, 2) == b"hi"
        assert reader.receive() == ({"pid": 7}, [])
        assert reader.receive() == ({"exit": 3}, [])
        sender.join()
        left.close()
        assert reader.receive() == (None, [])
    for fd in (read_end, write_end, *fds):
        os.close(fd)
