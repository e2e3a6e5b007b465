"""Campaign specification: pydantic models of a campaign file and their loader."""

from dtf.spec.load import load_campaign, parse_campaign
from dtf.spec.models import Campaign, Limits, Selection, Suite

__all__ = ["Campaign", "Limits", "Selection", "Suite", "load_campaign", "parse_campaign"]
