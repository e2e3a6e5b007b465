"""Prefect Secret blocks as a source of publishers' secrets: loaded here, handed to dtf."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from prefect.blocks.system import Secret

from dtf.errors import PublishError


def load_secret_blocks(names: Iterable[str]) -> dict[str, str]:
    """The value of each named Prefect Secret block, as an explicit mapping for dtf.

    Registered as the `prefect` entry point of `dtf.secret_blocks`, so `dtf publish` (which
    cannot import Prefect) loads blocks the same way the campaign flow does.
    """
    return {name: _load(name) for name in sorted(set(names))}


def _load(name: str) -> str:
    try:
        block = Secret.load(name)
    except ValueError:  # Prefect's answer for a block document that does not exist
        raise PublishError(
            f"Prefect Secret block '{name}' does not exist on the Prefect server: create it "
            f"(`prefect block create secret`, or Secret(value=...).save('{name}')) or fix "
            "the publisher's *_secret_block"
        ) from None
    except httpx.HTTPError as exc:
        raise PublishError(
            f"cannot load Prefect Secret block '{name}': the Prefect API failed "
            f"({type(exc).__name__})",
            transient=True,
        ) from None
    value = block.get()
    # Secret.get() parses JSON: a numeric or structured secret comes back as its raw text.
    return value if isinstance(value, str) else str(block.value.get_secret_value())
