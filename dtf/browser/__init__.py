"""Browser campaigns: pages served on loopback, run in a pool of Selenium-driven browsers."""

from __future__ import annotations
