"""A one-parameter model trained by gradient descent; records its speed as a metric."""

import time


def train(steps, lr=0.1):
    w = 0.0
    for _ in range(steps):
        grad = 2 * (w - 3.0)
        w -= lr * grad
    return w


def test_converges_to_optimum():
    assert abs(train(200) - 3.0) < 1e-6


def test_zero_steps_keeps_initial_weight():
    assert train(0) == 0.0


def test_large_learning_rate_diverges():
    assert abs(train(50, lr=1.5)) > 1e6


def test_training_throughput(dtf_metric):
    start = time.perf_counter()
    steps = 200_000
    train(steps)
    elapsed = time.perf_counter() - start
    dtf_metric("train_steps_per_second", steps / elapsed, "steps/s")
    assert elapsed < 30
