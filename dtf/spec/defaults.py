"""Builds the one-suite campaign `dtf run PATH` uses when a directory has no campaign file."""

from __future__ import annotations

from pathlib import Path

from dtf.spec.models import Campaign, Selection, Suite


def default_campaign(path: Path, cwd: Path) -> Campaign:
    """A campaign that selects exactly what `pytest PATH` run from `cwd` would."""
    try:
        selector = str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        selector = str(path.resolve())
    name = path.resolve().stem or "tests"
    safe = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name).strip("-.") or "tests"
    return Campaign(
        name=safe[:63],
        source=str(cwd.resolve()),
        suites=(Suite(name="tests", select=Selection(paths=(selector,))),),
    )
