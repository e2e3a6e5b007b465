"""Operator tests; the smoke-marked ones run in every configuration."""

import math
import os

import pytest


def relu(xs):
    return [max(0.0, x) for x in xs]


@pytest.mark.smoke
def test_relu_clips_negatives():
    assert relu([-1.0, 0.0, 2.0]) == [0.0, 0.0, 2.0]


@pytest.mark.smoke
def test_gelu_at_zero():
    assert 0.5 * 0.0 * (1 + math.erf(0.0)) == 0.0


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_sum_of_ones(n):
    assert sum([1.0] * n) == n


def test_device_matches_the_build():
    assert os.environ.get("DTF_EXAMPLE_DEVICE", "cpu") in {"cpu", "cuda"}
