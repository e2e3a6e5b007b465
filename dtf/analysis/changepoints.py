"""E-divisive means change-point detection with a permutation test; pure NumPy, no I/O.

The method is Matteson & James (2014), as used for performance CI at MongoDB and in Apache
Otava (Hunter): split a series where the energy distance between the two sides is largest,
keep the split only if a permutation test says such a gap is unlikely under "no change", then
repeat inside the segments. A stable noisy series is exchangeable, so the permutation p-value
is uniform there and a small significance level keeps it quiet; a small `min_relative` stops
statistically real but negligible shifts from alerting.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

# Permuted copies evaluated per batch: bounds memory to about 50 MB of distance matrices.
_BATCH_CELLS = 6_000_000
# Small first batches: most series are dismissed after their first few exceedances.
_PERMUTATION_CHUNKS = (16, 48, 128, 256)


@dataclass(frozen=True)
class ChangePoint:
    """A shift in a series: the segment starting at `index` differs from the one before it."""

    index: int
    before: float
    after: float
    p_value: float

    @property
    def relative(self) -> float:
        """(after - before) / |before|; infinite when `before` is zero."""
        if self.before == 0:
            return 0.0 if self.after == 0 else float("inf") * np.sign(self.after)
        return (self.after - self.before) / abs(self.before)

    @property
    def confidence(self) -> float:
        return 1.0 - self.p_value


@dataclass(frozen=True)
class Settings:
    """Knobs of the detector; the defaults keep noisy stable series quiet."""

    alpha: float = 0.005
    permutations: int = 999
    min_size: int = 2
    min_relative: float = 0.05
    min_absolute: float = 0.0
    seed: int = 0


def e_divisive(values: Sequence[float], settings: Settings | None = None) -> list[ChangePoint]:
    """The significant change points of `values`, in order of index."""
    s = settings or Settings()
    # No two segments' means can differ by min_absolute: nothing to report. Checked in plain
    # Python first: a report screens thousands of short, flat series, where numpy's per-call
    # cost dominates. A non-finite value goes on to numpy, as before.
    if not values or (all(map(math.isfinite, values))
                      and max(values) - min(values) < s.min_absolute):  # fmt: skip
        return []
    x = np.asarray(values, dtype=np.float64)
    if float(np.ptp(x)) < s.min_absolute:
        return []
    rng = np.random.default_rng(s.seed)
    found: dict[int, float] = {}
    while True:
        bounds = _segments(len(x), sorted(found))
        candidate = _best_candidate(x, bounds, s.min_size)
        if candidate is None:
            break
        index, statistic, (start, end) = candidate
        # Cheap screen first: a split too small to report is not worth a permutation test.
        shift = ChangePoint(index, float(x[start:index].mean()), float(x[index:end].mean()), 1.0)
        if _negligible(shift, s):
            break
        p_value = _permutation_p(x, bounds, statistic, s, rng)
        if p_value > s.alpha:
            break
        found[index] = p_value
    return _prune_small(x, found, s)


def energy_statistics(x: Array, min_size: int) -> Array:
    """q(τ) for every split τ of `x` (NaN where a side is shorter than `min_size`)."""
    out: Array = _q_batch(x[None, :], min_size)[0]
    return out


def _segments(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    edges = [0, *cuts, n]
    return list(itertools.pairwise(edges))


def _best_candidate(
    x: Array, bounds: list[tuple[int, int]], min_size: int
) -> tuple[int, float, tuple[int, int]] | None:
    best: tuple[int, float, tuple[int, int]] | None = None
    for start, end in bounds:
        if end - start < 2 * min_size:
            continue
        q = energy_statistics(x[start:end], min_size)
        tau = int(np.nanargmax(q))
        if best is None or q[tau] > best[1]:
            best = (start + tau, float(q[tau]), (start, end))
    return best


def _permutation_p(
    x: Array,
    bounds: list[tuple[int, int]],
    observed: float,
    s: Settings,
    rng: np.random.Generator,
) -> float:
    """p-value of `observed` against the best split of copies permuted within each segment.

    Stops early once the p-value can no longer reach `alpha`: noisy stable series, the common
    case, are dismissed after a few dozen permutations instead of all of them.
    """
    allowed = int(s.alpha * (s.permutations + 1)) - 1  # exceedances still compatible with alpha
    exceed = done = rounds = 0
    while done < s.permutations:
        chunk = _PERMUTATION_CHUNKS[min(rounds, len(_PERMUTATION_CHUNKS) - 1)]
        count = min(chunk, s.permutations - done)
        rounds += 1
        best = np.full(count, -np.inf)
        for start, end in bounds:
            if end - start < 2 * s.min_size:
                continue
            copies = rng.permuted(np.broadcast_to(x[start:end], (count, end - start)), axis=1)
            best = np.maximum(best, np.nanmax(_q_batch(copies, s.min_size), axis=1))
        exceed += int(np.count_nonzero(best >= observed))
        done += count
        if exceed > allowed:
            break
    return (exceed + 1) / (done + 1)


def _q_batch(rows: Array, min_size: int) -> Array:
    """q(τ) for each row of `rows` (shape R x m), in batches that bound memory."""
    count, m = rows.shape
    out = np.full((count, m), np.nan)
    if m < 2 * min_size:
        return out
    step = max(1, _BATCH_CELLS // (m * m))
    for first in range(0, count, step):
        out[first : first + step] = _q_rows(rows[first : first + step], min_size)
    return out


def _q_rows(rows: Array, min_size: int) -> Array:
    count, m = rows.shape
    distances = np.abs(rows[:, :, None] - rows[:, None, :])
    prefix = np.zeros((count, m + 1, m + 1))
    prefix[:, 1:, 1:] = distances.cumsum(axis=1).cumsum(axis=2)
    tau = np.arange(min_size, m - min_size + 1)
    left = tau.astype(np.float64)
    right = (m - tau).astype(np.float64)
    full_left = prefix[:, tau, tau]
    to_end = prefix[:, tau, m]
    cross = to_end - full_left
    within_right = prefix[:, m, m][:, None] - 2 * to_end + full_left
    # Mean over distinct pairs on each side; a one-element side has none, and contributes 0.
    pairs_left = np.where(left > 1, left * (left - 1), np.inf)
    pairs_right = np.where(right > 1, right * (right - 1), np.inf)
    energy = 2 * cross / (left * right) - full_left / pairs_left - within_right / pairs_right
    out = np.full((count, m), np.nan)
    out[:, tau] = energy * left * right / m
    return out


def _prune_small(x: Array, found: dict[int, float], s: Settings) -> list[ChangePoint]:
    """Drop the smallest shift below the magnitude thresholds, re-measure, repeat."""
    cuts = sorted(found)
    while True:
        points = _measure(x, cuts, found)
        small = [p for p in points if _negligible(p, s)]
        if not small:
            return points
        weakest = min(small, key=lambda p: abs(p.after - p.before))
        cuts.remove(weakest.index)


def _measure(x: Array, cuts: list[int], p_values: dict[int, float]) -> list[ChangePoint]:
    if not cuts:
        return []
    bounds = _segments(len(x), cuts)
    means = [float(np.mean(x[a:b])) for a, b in bounds]
    return [ChangePoint(cut, means[i], means[i + 1], p_values[cut]) for i, cut in enumerate(cuts)]


def _negligible(point: ChangePoint, s: Settings) -> bool:
    change = abs(point.after - point.before)
    return change < s.min_absolute or abs(point.relative) < s.min_relative
