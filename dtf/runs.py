"""Run identifiers: readable, sortable by time, unique enough for one store."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def new_run_id(campaign: str) -> str:
    """'<campaign>-YYYYmmdd-HHMMSS-<4 hex>' in UTC."""
    return f"{campaign[:40]}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def run_title(params: Mapping[str, Any], name: str | None = None) -> str:
    """What ran, for the Prefect UI's run list: campaign, matrix, selection, ref, PR, trigger."""
    target = Path(str(params.get("target") or "campaign.yaml"))
    label = name or (target.parent.name if target.stem == "campaign" else target.stem) or "campaign"
    matrix = params.get("matrix") or {}
    parts = [label + (f"[{','.join(f'{k}={v}' for k, v in matrix.items())}]" if matrix else "")]
    parts += [f"-k '{params['keyword']}'"] if params.get("keyword") else []
    parts += [f"-m '{params['marker']}'"] if params.get("marker") else []
    parts += [f"@{str(params['ref'])[:12]}"] if params.get("ref") else []
    parts += [f"PR#{params['pr']}"] if params.get("pr") else []
    return " ".join(parts) + f" ({params.get('trigger') or 'on-demand'})"
