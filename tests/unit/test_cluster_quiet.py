"""The quiet Dask settings dtf gives the workers and scheduler it starts."""

from __future__ import annotations

import pytest

from dtf.cluster.quiet import QUIET_DASK_ENV, quiet_dask_env
from dtf.cluster.worker import worker_launch
from dtf.hardware.model import CpuInfo, GpuVendor, MpsInfo, Taxonomy


def test_every_quiet_setting_applies_when_the_user_sets_none() -> None:
    assert quiet_dask_env({"PATH": "/bin"}) == QUIET_DASK_ENV
    assert QUIET_DASK_ENV["DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"] == "False"


def test_a_setting_the_user_made_is_left_to_them() -> None:
    mine = {"DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "20ms"}
    quiet = quiet_dask_env(mine)
    assert "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL" not in quiet
    assert len(quiet) == len(QUIET_DASK_ENV) - 1


def _taxonomy() -> Taxonomy:
    no_gpu = GpuVendor(present=False, reason="none here")
    return Taxonomy(host="h", platform="p", python="3.11", detected_at="", detection_seconds=0,
                    cpu=CpuInfo(model="m", arch="x86_64", logical_cores=2, memory_gb=8),
                    nvidia=no_gpu, amd=no_gpu, mps=MpsInfo(present=False),
                    browsers_probed=True)  # fmt: skip


def test_dtf_worker_launches_dask_with_the_quiet_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED", "True")
    launch = worker_launch("tcp://127.0.0.1:8786", _taxonomy())
    assert launch.env["DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL"] == "1s"
    assert "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED" not in launch.env  # the user's True
