"""Retries with backoff for deliveries: 5xx, 429 (honouring Retry-After) and timeouts."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from dtf.errors import PublishError
from dtf.publishing.spec import RetryBudget

T = TypeVar("T")


@dataclass
class Deadline:
    """The wall-clock budget of one publish pass, shared by all of one target's deliveries."""

    seconds: float
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.ends = self.clock() + self.seconds

    def left(self) -> float:
        return self.ends - self.clock()


@dataclass(frozen=True)
class Attempts:
    """How a retried call ended: its value (or last error) and how many attempts it took."""

    count: int
    error: PublishError | None = None


def backoff(attempt: int, budget: RetryBudget, retry_after: float | None) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, jittered, >= Retry-After."""
    exp = min(budget.max_delay, budget.base_delay * float(2 ** (attempt - 1)))
    # Jitter spreads retries of many deliveries; Retry-After is a floor the target set.
    wait = exp * random.uniform(0.5, 1.0)
    return max(wait, retry_after or 0.0)


def call_with_retry(
    call: Callable[[], T],
    budget: RetryBudget,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T | None, Attempts]:
    """Call until it succeeds, fails permanently, or the attempts or deadline run out."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return call(), Attempts(attempt)
        except PublishError as exc:
            if not exc.transient or attempt >= budget.max_attempts:
                return None, Attempts(attempt, exc)
            wait = backoff(attempt, budget, exc.retry_after)
            if wait > deadline.left():
                spent = PublishError(
                    f"{exc} (retry budget spent after {attempt} attempts)",
                    transient=True,
                    retry_after=exc.retry_after,
                )
                return None, Attempts(attempt, spent)
            sleep(wait)
