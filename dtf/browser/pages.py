"""Discovers a browser suite's pages (its test ids) from files, without running anything."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from dtf.browser.spec import BrowserPage, BrowserSuiteSpec
from dtf.errors import DiscoveryError

# A page's own results are `<page>::<name>`; the page itself is the planned test.
SEPARATOR = "::"


def discover_pages(spec: BrowserSuiteSpec, source: Path) -> list[BrowserPage]:
    """Every page of the suite, globs expanded, each once, with its timeout filled in.

    The page's path (relative to the suite's root, query included) is its test id.
    """
    root = suite_root(spec, source)
    found: dict[str, BrowserPage] = {}
    for entry in spec.pages:
        for page in _expand(entry, root):
            if page.timeout is None and spec.page_timeout is not None:
                page = page.model_copy(update={"timeout": spec.page_timeout})
            found.setdefault(page.path, page)
    return list(found.values())


def select_pages(pages: Iterable[BrowserPage], test_ids: Sequence[str]) -> list[BrowserPage]:
    """The pages named by `test_ids` (page ids, or `<page>::<result>` ids), in their order."""
    by_id = {p.path: p for p in pages}
    wanted = dict.fromkeys(page_of(t) for t in test_ids)
    unknown = [t for t in wanted if t not in by_id]
    if unknown:
        raise DiscoveryError(f"no such page in the suite: {', '.join(unknown)}")
    return [by_id[t] for t in wanted]


def page_of(test_id: str) -> str:
    """The page a result id belongs to: `a.html::b` -> `a.html`; a page id is its own page."""
    return test_id.split(SEPARATOR, 1)[0]


def suite_root(spec: BrowserSuiteSpec, source: Path) -> Path:
    root = (source / spec.root).resolve()
    if not root.is_dir():
        raise DiscoveryError(f"browser suite root {root} is not a directory")
    return root


def _expand(entry: BrowserPage, root: Path) -> list[BrowserPage]:
    if not entry.is_glob:
        if not (root / entry.file).is_file():
            raise DiscoveryError(f"page {entry.file} does not exist under {root}")
        return [entry]
    query = entry.path[len(entry.file) :]
    files = sorted(p for p in root.glob(entry.file) if p.is_file())
    if not files:
        raise DiscoveryError(f"page pattern {entry.file} matches no file under {root}")
    return [entry.model_copy(update={"path": p.relative_to(root).as_posix() + query})
            for p in files]  # fmt: skip
