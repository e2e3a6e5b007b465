"""Small numeric kernels written in plain Python, checked against known answers."""

import math

import pytest


def matmul(a, b):
    return [[sum(x * y for x, y in zip(row, col)) for col in zip(*b)] for row in a]


def softmax(xs):
    top = max(xs)
    exps = [math.exp(x - top) for x in xs]
    total = sum(exps)
    return [e / total for e in exps]


def test_matmul_identity():
    a = [[1, 2], [3, 4]]
    assert matmul(a, [[1, 0], [0, 1]]) == a


def test_matmul_known_product():
    assert matmul([[1, 2], [3, 4]], [[5, 6], [7, 8]]) == [[19, 22], [43, 50]]


def test_softmax_sums_to_one():
    assert math.isclose(sum(softmax([1.0, 2.0, 3.0])), 1.0)


def test_softmax_is_shift_invariant():
    a, b = softmax([1.0, 2.0, 3.0]), softmax([101.0, 102.0, 103.0])
    assert all(math.isclose(x, y) for x, y in zip(a, b))


def test_softmax_handles_large_values():
    assert softmax([1000.0, 1000.0]) == [0.5, 0.5]


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16])
def test_matmul_square_sizes(n):
    eye = [[float(i == j) for j in range(n)] for i in range(n)]
    assert matmul(eye, eye) == eye


def test_layernorm_mean_is_zero():
    xs = [1.0, 2.0, 3.0, 4.0]
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / len(xs)
    normed = [(x - mean) / math.sqrt(var + 1e-5) for x in xs]
    assert abs(sum(normed)) < 1e-9
