"""Resolves what `dtf run TARGET` names: a campaign file, or tests to wrap in a default campaign."""

from __future__ import annotations

from pathlib import Path

from dtf.errors import SpecError
from dtf.spec.defaults import default_campaign
from dtf.spec.load import load_campaign
from dtf.spec.models import Campaign

CAMPAIGN_SUFFIXES = (".yaml", ".yml")
CAMPAIGN_FILE = "campaign.yaml"


def resolve_target(target: Path, cwd: Path) -> tuple[Campaign, Path]:
    """The campaign to run and its absolute source directory."""
    path = target if target.is_absolute() else cwd / target
    if path.suffix in CAMPAIGN_SUFFIXES:
        if not path.exists():
            raise SpecError(str(target), "campaign file not found")
        return _with_source(load_campaign(path), path)
    if path.is_dir() and (path / CAMPAIGN_FILE).is_file():
        return _with_source(load_campaign(path / CAMPAIGN_FILE), path / CAMPAIGN_FILE)
    if not path.exists():
        raise SpecError(str(target), "no such campaign file or test path")
    spec = default_campaign(path, cwd)
    return spec, Path(str(spec.source))  # a default campaign's source is its test path


def _with_source(spec: Campaign, file: Path) -> tuple[Campaign, Path]:
    if not isinstance(spec.source, str):
        return spec, file.parent.resolve()  # a git source: workers check it out themselves
    source = (file.parent / spec.source).resolve()
    if not source.is_dir():
        raise SpecError(str(file), f"source directory {source} does not exist", field="source")
    return spec, source
