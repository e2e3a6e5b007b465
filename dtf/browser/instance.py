"""One Selenium-driven browser in its own process group: start, measure, kill whole."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import psutil

from dtf.hardware.webprobe import CHROMIUM_FLAGS

KILL_GRACE_SECONDS = 2.0


class BrowserStartError(Exception):
    """The browser or its driver could not be started."""


@dataclass(frozen=True)
class BrowserSetup:
    """Which browser binary and driver to run, with which extra command-line flags."""

    binary: str
    driver: str
    flags: tuple[str, ...] = ()


class BrowserInstance:
    """A running chromedriver and its Chromium, both in the driver's new process group."""

    def __init__(self, setup: BrowserSetup) -> None:
        self.setup = setup
        self.pages = 0
        self._profile = tempfile.mkdtemp(prefix="dtf-browser-")
        try:
            self.driver, self._service = _start(setup, self._profile)
        except Exception as exc:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise BrowserStartError(f"{type(exc).__name__}: {_first_line(str(exc))}") from exc
        self.pgid = self._service.process.pid
        self.started_at = time.time()
        self._closed = False

    @property
    def driver_pid(self) -> int:
        return int(self._service.process.pid)

    @property
    def browser_pid(self) -> int | None:
        """The browser's main process: the driver's child that is not a helper (--type=)."""
        for child in self._tree()[1:]:
            try:
                cmdline = child.cmdline()
            except psutil.Error:
                continue
            helper = any(arg.startswith("--type=") for arg in cmdline)
            if child.ppid() == self.driver_pid and not helper:
                return int(child.pid)
        return None

    def alive(self) -> bool:
        pid = self.browser_pid
        return self._service.process.poll() is None and pid is not None

    def rss_bytes(self) -> int:
        """Resident memory summed over the driver and every browser process."""
        return sum(_memory(p, "rss") for p in self._tree())

    def pss_bytes(self) -> int:
        """Proportional set size summed: shared pages counted once overall, not per process."""
        return sum(_memory(p, "pss") for p in self._tree())

    def close(self) -> None:
        """Kill the whole process group at once and forget the profile.

        SIGKILL straight away: the profile is thrown away, so there is nothing for a
        graceful exit to save, and SIGTERM costs Chromium 1.5-2 s to honour (measured).
        """
        if self._closed:
            return
        self._closed = True
        tree = self._tree()
        _signal_group(self.pgid, signal.SIGKILL)
        for proc in tree:  # a process that left the group is still ours to kill
            _kill(proc)
        self._service.process.wait()
        _wait_dead(tree, KILL_GRACE_SECONDS)
        self.driver.command_executor.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.driver_pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []


def _start(setup: BrowserSetup, profile: str) -> tuple[Any, Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = setup.binary
    for flag in [*CHROMIUM_FLAGS, *setup.flags, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # start_new_session: the driver leads a new process group that Chromium joins, so the
    # pool can kill every browser process at once (measured: all of them stay in it).
    # Selenium Manager must never download anything: with the driver's path given, Selenium
    # skips it; SE_OFFLINE keeps anything the driver itself might start offline too.
    env = {**os.environ, "SE_OFFLINE": "true"}
    service = Service(setup.driver, env=env, popen_kw={"start_new_session": True})
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except Exception:
        if service.process is not None:
            _signal_group(service.process.pid, signal.SIGKILL)
            service.process.wait()
        raise
    return driver, service


def _memory(proc: psutil.Process, kind: str) -> int:
    try:
        info = proc.memory_full_info() if kind == "pss" else proc.memory_info()
        return int(getattr(info, kind))
    except psutil.Error:
        return 0


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(proc: psutil.Process) -> None:
    try:
        proc.kill()
    except psutil.Error:
        pass


def _wait_dead(procs: list[psutil.Process], seconds: float) -> None:
    # Killed browser processes are orphans that init reaps; a zombie is dead already.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_running(p) for p in procs):
        time.sleep(0.02)


def _running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
