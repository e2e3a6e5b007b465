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
        offered = "; ".join(
            f"{name}: {_fmt(res) or 'no resources'}" for name, res in sorted(fleet.items())
        )
        return (
            f"suite '{self.suite}' needs {_fmt(self.needs)}, which no worker offers "
            f"(fleet: {offered or 'no workers'})"
        )


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


def fits(needs: Mapping[str, float], offered: Mapping[str, float]) -> bool:
    return all(offered.get(name, 0.0) >= amount for name, amount in needs.items())


def _fmt(resources: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items()))
