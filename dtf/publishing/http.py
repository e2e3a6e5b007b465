"""Translates client-library and transport errors into PublishError, without leaking secrets."""

from __future__ import annotations

import socket
import time
import urllib.error
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from dtf.errors import PublishError

REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced (secrets shorter than 4 chars are not secrets)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if present."""
    if not headers:
        return None
    raw = next((str(v) for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def status_error(
    target: str, status: int | None, headers: Mapping[str, Any] | None, detail: str = ""
) -> PublishError:
    """The PublishError for an HTTP status: 429 and 5xx are transient, other 4xx are not."""
    detail = f": {detail[:200]}" if detail else ""
    if status == 429:
        wait = retry_after(headers)
        hint = f", retry after {wait:g} s" if wait is not None else ""
        return PublishError(
            f"{target}: rate limited (HTTP 429{hint}){detail}", transient=True, retry_after=wait
        )
    if status is None or status >= 500:
        what = f"HTTP {status}" if status else "no response"
        return PublishError(f"{target}: unavailable ({what}){detail}", transient=True)
    return PublishError(f"{target}: rejected (HTTP {status}){detail}")


@contextmanager
def transport_errors(target: str) -> Iterator[None]:
    """Map timeouts and connection failures of requests/urllib to transient PublishErrors."""
    try:
        yield
    except (requests.Timeout, TimeoutError) as exc:
        raise PublishError(f"{target}: timed out", transient=True) from exc
    except (requests.ConnectionError, ConnectionError) as exc:
        raise PublishError(f"{target}: unreachable ({type(exc).__name__})", transient=True) from exc
    except urllib.error.HTTPError as exc:
        headers = dict(exc.headers or {})
        exc.close()  # the error is the response: release its socket now
        raise status_error(target, exc.code, headers) from exc
    except urllib.error.URLError as exc:
        timed_out = isinstance(exc.reason, (TimeoutError, socket.timeout))
        what = "timed out" if timed_out else f"unreachable ({type(exc.reason).__name__})"
        raise PublishError(f"{target}: {what}", transient=True) from exc
