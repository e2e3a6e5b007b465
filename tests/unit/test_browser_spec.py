"""The browser suite spec, page discovery from files, and capability checks; no browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dtf.browser.capabilities import Capabilities, missing
from dtf.browser.pages import discover_pages, page_of, select_pages
from dtf.browser.pool import pool_size
from dtf.browser.spec import BrowserPage, BrowserSuiteSpec
from dtf.errors import DiscoveryError
from dtf.hardware.model import Feature, WebGpu


def test_pages_may_be_plain_paths_or_full_entries() -> None:
    spec = BrowserSuiteSpec.model_validate({
        "root": "web", "pages": ["a.html", {"path": "b.html?x=1", "requires": ["webgpu"],
                                           "timeout": 5}],
    })  # fmt: skip
    assert [p.path for p in spec.pages] == ["a.html", "b.html?x=1"]
    assert spec.pages[1].requires == ("webgpu",)
    assert spec.pages[1].file == "b.html"
    assert spec.pool_size is None and spec.pages_per_browser == 50


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"pages": []}, "at least 1"),
        ({"pages": ["/etc/passwd"]}, "relative to the suite's root"),
        ({"pages": ["../up.html"]}, "relative to the suite's root"),
        ({"pages": [{"path": "a.html", "requires": ["webgl"]}]}, "webgpu"),
        ({"pages": ["a.html"], "root": "/abs"}, "inside the campaign's source"),
        ({"pages": ["a.html"], "flags": ["nosandbox"]}, "must start with '--'"),
        ({"pages": ["a.html"], "flags": ["--user-data-dir=/x"]}, "fresh profile"),
        ({"pages": ["a.html"], "pool_size": 0}, "greater than or equal to 1"),
        ({"pages": ["a.html"], "colour": "red"}, "Extra inputs"),
    ],
)
def test_invalid_specs_say_what_is_wrong(data: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        BrowserSuiteSpec.model_validate(data)


def _site(tmp_path: Path) -> Path:
    for name in ["web/a.html", "web/b.html", "web/sub/c.html", "web/sub/data.json"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    return tmp_path


def test_discovery_expands_globs_keeps_queries_and_fills_timeouts(tmp_path: Path) -> None:
    spec = BrowserSuiteSpec.model_validate({"root": "web", "page_timeout": 9, "pages": [
        {"path": "sub/*.html?ep=wasm", "requires": ["wasm_simd"]}, "a.html",
        {"path": "*.html", "timeout": 2}]})  # fmt: skip
    pages = discover_pages(spec, _site(tmp_path))
    assert [(p.path, p.timeout, p.requires) for p in pages] == [
        ("sub/c.html?ep=wasm", 9, ("wasm_simd",)),
        ("a.html", 9, ()),  # listed before the glob that also matches it: the first wins
        ("b.html", 2, ()),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("pages", "root", "words"),
    [(["nope.html"], "web", "does not exist"), (["*.htm"], "web", "matches no file"),
     (["a.html"], "absent", "is not a directory")],
)  # fmt: skip
def test_discovery_fails_on_missing_pages(
    tmp_path: Path, pages: list[str], root: str, words: str
) -> None:
    spec = BrowserSuiteSpec.model_validate({"root": root, "pages": pages})
    with pytest.raises(DiscoveryError, match=words):
        discover_pages(spec, _site(tmp_path))


def test_pages_are_selected_by_page_or_result_ids() -> None:
    pages = [BrowserPage(path="a.html"), BrowserPage(path="b.html?x=1")]
    chosen = select_pages(pages, ["b.html?x=1::agreement", "a.html", "b.html?x=1"])
    assert [p.path for p in chosen] == ["b.html?x=1", "a.html"]
    assert page_of("a.html::x::y") == "a.html"
    with pytest.raises(DiscoveryError, match=r"no such page in the suite: c\.html"):
        select_pages(pages, ["c.html::r"])


def _caps(webgpu: WebGpu) -> Capabilities:
    no = Feature(available=False, reason="createContext() failed")
    yes = Feature(available=True)
    return Capabilities(webgpu=webgpu, webnn=no, wasm_simd=yes, wasm_threads=yes)


def test_requirements_are_checked_against_the_probed_capabilities() -> None:
    fallback = _caps(WebGpu(available=True, architecture="swiftshader", is_fallback=True))
    assert missing(fallback, ["webgpu", "wasm_simd", "wasm_threads"]) is None
    why = missing(fallback, ["webnn", "webgpu_hw"])
    assert why == ("this browser lacks what the page requires: webnn (createContext() failed); "
                   "webgpu_hw (the only WebGPU adapter is a fallback (software) adapter: "
                   "swiftshader)")  # fmt: skip
    hardware = _caps(WebGpu(available=True, is_fallback=False))
    assert missing(hardware, ["webgpu_hw"]) is None
    none = _caps(WebGpu(available=False, reason="navigator.gpu is undefined"))
    assert missing(none, ["webgpu"]) == (
        "this browser lacks what the page requires: webgpu (navigator.gpu is undefined)"
    )


def test_pool_size_follows_the_shards_browser_resource() -> None:
    assert pool_size({"browser_chromium": 2, "cpu": 8}, "chromium") == 2
    assert pool_size({"browser_chromium": 0.5}, "chromium") == 1
    assert pool_size({"cpu": 8}, "chromium", default=3) == 3


def test_a_suite_asks_for_its_browsers_and_every_capability_its_pages_need() -> None:
    spec = BrowserSuiteSpec.model_validate({"pool_size": 2, "pages": [
        {"path": "a.html", "requires": ["webgpu", "wasm_simd"]}, "b.html"]})  # fmt: skip
    assert spec.needs() == {"browser_chromium": 2.0, "webgpu": 1.0, "wasm_simd": 1.0}
    assert spec.needs(pool_size=3)["browser_chromium"] == 3.0
    plain = BrowserSuiteSpec.model_validate({"browser": "chrome", "pages": ["b.html"]})
    assert plain.needs() == {"browser_chrome": 1.0}
    assert [p.requirement_key for p in spec.pages] == ["wasm_simd+webgpu", "none"]
