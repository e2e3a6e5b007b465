"""Runs the example's pages on a local browser pool and checks the sharded evaluation.

Usage: python run_example.py [--pool 2]
Needs `npm ci --ignore-scripts` here (onnxruntime-web) and `python make_model.py` first.
Prints one line per result, then whether the evaluation split over browsers matches the
unsharded run; exits 1 if any page failed or the parts disagree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from dtf.browser.pages import discover_pages
from dtf.browser.pool import PoolConfig
from dtf.browser.shard import run_browser_shard
from dtf.browser.sharding import combine_rows, max_abs_diff
from dtf.browser.spec import BrowserSuiteSpec
from dtf.execution.outcomes import FAILING_OUTCOMES

HERE = Path(__file__).resolve().parent
WHOLE = "pages/mlp.html?ep=wasm"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=2, help="browsers in the pool")
    args = parser.parse_args(argv)
    campaign = yaml.safe_load((HERE / "campaign.yaml").read_text())
    spec = BrowserSuiteSpec.model_validate(campaign["suites"][0]["browser"])
    pages = discover_pages(spec, HERE)
    outcome = run_browser_shard(pages, PoolConfig(root=HERE / spec.root, size=args.pool))
    for r in outcome.results:
        metrics = " ".join(f"{m.name}={m.value:.4g}{m.unit}" for m in r.metrics)
        print(f"{r.outcome:8} {r.duration:6.2f}s {r.nodeid}  {r.message}  {metrics}".rstrip())
    parts = [r for r in outcome.results if "shard=" in r.nodeid]
    whole = [r for r in outcome.results if r.nodeid == f"{WHOLE}::agreement"]
    diff = max_abs_diff(combine_rows(parts, "agreement"), combine_rows(whole, "agreement"))
    print(f"sharded vs unsharded: max abs difference {diff:.3g}")
    failed = any(r.outcome in FAILING_OUTCOMES for r in outcome.results)
    return 1 if failed or diff > 1e-6 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
