"""Run identifiers: readable, sortable by time, unique enough for one store."""

from __future__ import annotations

import secrets
import time


def new_run_id(campaign: str) -> str:
    """'<campaign>-YYYYmmdd-HHMMSS-<4 hex>' in UTC."""
    return f"{campaign[:40]}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
