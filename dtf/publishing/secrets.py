"""Loading the Prefect Secret blocks publishers name, by plugin: dtf never imports Prefect."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points

from dtf.errors import PublishError

GROUP = "dtf.secret_blocks"
BlockLoader = Callable[[Iterable[str]], dict[str, str]]


def load_blocks(names: Sequence[str], loader: str = "prefect") -> dict[str, str]:
    """The values of the named Secret blocks from the loader registered in `dtf.secret_blocks`.

    The campaign flow calls its loader itself; the CLI comes through here. No names: no load.
    """
    if not names:
        return {}
    for entry in entry_points(group=GROUP):
        if entry.name == loader:
            load: BlockLoader = entry.load()
            return load(names)
    raise PublishError(
        f"the deliveries read Prefect Secret blocks ({', '.join(names)}) but no '{loader}' "
        f"loader is installed (entry points {GROUP})"
    )
