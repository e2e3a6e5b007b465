"""Checks a plan against a fleet's resources before anything is submitted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dtf.planning.shards import Shard

CPU = "cpu"


@dataclass(frozen=True)
class Unplaceable:
    """A suite whose needs no worker of the fleet offers."""

    suite: str
    needs: Mapping[str, float]

    def message(self, fleet: Mapping[str, Mapping[str, float]]) -> str:
        """Names the suite, its needs, what is missing, and what the fleet has."""
        shortfalls = [
            gap for name, amount in sorted(self.needs.items())
            if (gap := _shortfall(name, amount, fleet))
        ]  # fmt: skip
        why = "; ".join(shortfalls) or "each is offered, but no single worker offers all of them"
        return (
            f"suite '{self.suite}' needs {_fmt(self.needs)}, which no worker offers: {why} "
            f"(fleet: {fleet_summary(fleet)})"
        )


def _shortfall(name: str, amount: float, fleet: Mapping[str, Mapping[str, float]]) -> str:
    offers = {worker: res[name] for worker, res in fleet.items() if name in res}
    if not offers:
        return f"no worker has {name}"
    best = max(offers.values())
    if best >= amount:
        return ""
    holder = min(worker for worker, value in offers.items() if value == best)
    return f"{name} is at most {best:g} (on {holder}), {amount:g} needed"


def fleet_summary(fleet: Mapping[str, Mapping[str, float]]) -> str:
    """Workers grouped by identical resources, so a fleet of hundreds stays one readable line."""
    if not fleet:
        return "no workers"
    groups: dict[str, list[str]] = {}
    for worker, res in sorted(fleet.items()):
        groups.setdefault(_fmt(res) or "no resources", []).append(worker)
    return "; ".join(f"{_workers(names)}: {res}" for res, names in groups.items())


def _workers(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"{len(names)} workers ({shown})"


def hardware_class(needs: Mapping[str, float]) -> str:
    """A short label for what a shard needs: its non-CPU resources, or 'cpu'."""
    special = sorted(k for k in needs if k != CPU)
    return "+".join(special) if special else CPU


def unplaceable(
    shards: Sequence[Shard], fleet: Mapping[str, Mapping[str, float]]
) -> list[Unplaceable]:
    """Suites with a shard that no single worker could ever run (Dask would wait forever)."""
    found: dict[str, Unplaceable] = {}
    for shard in shards:
        if shard.suite in found:
            continue
        if not any(fits(shard.needs, offered) for offered in fleet.values()):
            found[shard.suite] = Unplaceable(shard.suite, dict(shard.needs))
    return list(found.values())


def parallel_slots(needs: Mapping[str, float], fleet: Mapping[str, Mapping[str, float]]) -> int:
    """How many shards needing `needs` the fleet can run at once, by its resources."""
    return sum(
        min((int(offered.get(k, 0.0) // v) for k, v in needs.items() if v > 0), default=1)
        for offered in fleet.values()
        if fits(needs, offered)
    )


def fits(needs: Mapping[str, float], offered: Mapping[str, float]) -> bool:
    return all(offered.get(name, 0.0) >= amount for name, amount in needs.items())


def _fmt(resources: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items()))
