"""Collective-communication checks, simulated in one process."""


def all_reduce(values):
    total = sum(values)
    return [total for _ in values]


def test_all_reduce_sums():
    assert all_reduce([1, 2, 3]) == [6, 6, 6]


def test_all_reduce_single_rank():
    assert all_reduce([5]) == [5]
