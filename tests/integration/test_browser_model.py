"""The example's MLP in onnxruntime-web, in real Chromium: WASM and WebGPU against numpy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dtf.browser.pool import PoolConfig
from dtf.browser.shard import run_browser_shard
from dtf.browser.sharding import combine_rows, details_of, max_abs_diff, split_page
from dtf.browser.spec import BrowserPage
from dtf.execution.outcomes import CaseResult, ShardOutcome
from dtf.hardware.browsers import find_driver

EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "browser"
RUNTIME = EXAMPLE / "node_modules" / "onnxruntime-web" / "dist"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None or find_driver("chromium") is None,
        reason="Chromium and chromedriver are not installed "
        "(apt-get install -y chromium chromium-driver)",
    ),
    pytest.mark.skipif(
        not (RUNTIME / "ort.all.min.mjs").is_file(),
        reason="onnxruntime-web is not installed: run "
        "`npm ci --prefix examples/browser --ignore-scripts` (npm registry, about 10 s)",
    ),
]
TOLERANCE = 1e-4  # float32 inference against numpy's float64 reference
WASM = BrowserPage(path="pages/mlp.html?ep=wasm", timeout=90)
WEBGPU = BrowserPage(path="pages/mlp.html?ep=webgpu", requires=("webgpu",), timeout=90)
BAD_REF = BrowserPage(path="pages/mlp.html?ep=wasm&reference=../model/bad.json", timeout=90)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example served from a scratch copy, with its model made by make_model.py."""
    served = tmp_path_factory.mktemp("browser-example")
    shutil.copytree(EXAMPLE / "pages", served / "pages")
    (served / "node_modules").symlink_to(EXAMPLE / "node_modules")
    subprocess.run([sys.executable, str(EXAMPLE / "make_model.py"), str(served / "model")],
                   check=True, capture_output=True)  # fmt: skip
    reference = json.loads((served / "model" / "reference.json").read_text())
    reference["y"][5] += 0.01  # one wrong value: the agreement check must catch it
    (served / "model" / "bad.json").write_text(json.dumps(reference))
    return served


@pytest.fixture(scope="module")
def whole(root: Path) -> ShardOutcome:
    return run_browser_shard([WASM, WEBGPU, BAD_REF], PoolConfig(root=root, size=1))


def _row(outcome: ShardOutcome, nodeid: str) -> CaseResult:
    return next(r for r in outcome.results if r.nodeid == nodeid)


def _reference(root: Path) -> list[list[float]]:
    data = json.loads((root / "model" / "reference.json").read_text())
    width = data["shape"][1]
    return [data["y"][i : i + width] for i in range(0, len(data["y"]), width)]


@pytest.mark.parametrize("page", [WASM, WEBGPU], ids=["wasm", "webgpu"])
def test_the_model_agrees_with_numpy_and_reports_latency(
    whole: ShardOutcome, root: Path, page: BrowserPage
) -> None:
    agreement = _row(whole, f"{page.path}::agreement")
    assert agreement.outcome == "passed", agreement.message
    metrics = {m.name: m.value for m in agreement.metrics}
    assert metrics["max_abs_err"] < TOLERANCE
    rows = combine_rows([agreement], "agreement")
    assert max_abs_diff(rows, _reference(root)) < TOLERANCE
    latency = {m.name: m.value for m in _row(whole, f"{page.path}::latency").metrics}
    assert set(latency) == {"session_create_ms", "first_run_ms", "run_ms_mean", "run_ms_p50",
                            "samples_per_s"}  # fmt: skip
    assert all(v > 0 for v in latency.values())
    assert _row(whole, page.path).outcome == "passed"


def test_webgpu_ran_on_the_fallback_adapter_and_the_result_says_so(whole: ShardOutcome) -> None:
    page = _row(whole, WEBGPU.path)
    assert "webgpu adapter: google swiftshader (fallback)" in page.message
    assert details_of(_row(whole, f"{WEBGPU.path}::agreement"))["ep"] == "webgpu"
    # The WASM page never asked for an adapter, and says nothing of one.
    assert "webgpu adapter" not in _row(whole, WASM.path).message


def test_a_wrong_reference_value_fails_the_agreement(whole: ShardOutcome) -> None:
    agreement = _row(whole, f"{BAD_REF.path}::agreement")
    assert agreement.outcome == "failed"
    assert agreement.message.startswith("1 of 384 outputs off by more than")
    assert _row(whole, BAD_REF.path).outcome == "failed"


def test_an_evaluation_sharded_over_three_browsers_matches_the_unsharded_run(
    root: Path,
) -> None:
    parts = split_page(WASM, 3)
    outcome = run_browser_shard([*parts, WASM], PoolConfig(root=root, size=3))
    assert outcome.launches == 3
    pages = [r for r in outcome.results if "::" not in r.nodeid]
    assert [r.outcome for r in pages] == ["passed"] * 4, [r.message for r in pages]
    shard_rows = [r for r in outcome.results if r.nodeid.split("::")[0] in {p.path for p in parts}]
    combined = combine_rows(shard_rows, "agreement")
    whole = combine_rows([_row(outcome, f"{WASM.path}::agreement")], "agreement")
    assert len(combined) == len(whole) == 96
    assert max_abs_diff(combined, whole) <= 1e-6
    assert max_abs_diff(combined, _reference(root)) < TOLERANCE
