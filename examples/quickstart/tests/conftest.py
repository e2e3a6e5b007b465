"""Fixtures shared by the quickstart's tests."""

import os

import pytest


@pytest.fixture
def device() -> str:
    """'cuda' when dtf placed this test on a worker that offers the cuda resource, else 'cpu'."""
    resources = os.environ.get("DTF_WORKER_RESOURCES", "")
    return "cuda" if "cuda=" in resources else "cpu"
