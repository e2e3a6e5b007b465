"""What a pooled browser can do (WebGPU, WebNN, WASM), and which pages it must skip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dtf.hardware.model import BrowserInfo, Feature, WebGpu


@dataclass(frozen=True)
class Capabilities:
    """The probed features of one browser build with one set of flags."""

    webgpu: WebGpu
    webnn: Feature
    wasm_simd: Feature
    wasm_threads: Feature

    @classmethod
    def from_info(cls, info: BrowserInfo) -> Capabilities:
        """From the worker's taxonomy, when the browser was probed at worker start."""
        return cls(info.webgpu, info.webnn, info.wasm_simd, info.wasm_threads)

    @classmethod
    def from_probe(cls, found: Mapping[str, Any]) -> Capabilities:
        """From the answer of dtf.hardware.webprobe's PROBE_JS."""
        return cls(
            webgpu=WebGpu.model_validate(found["webgpu"]),
            webnn=Feature.model_validate(found["webnn"]),
            wasm_simd=Feature.model_validate(found["wasm_simd"]),
            wasm_threads=Feature.model_validate(found["wasm_threads"]),
        )

    def feature(self, name: str) -> Feature:
        """A capability by the resource name placement uses."""
        if name == "webgpu_hw":
            if not self.webgpu.available:
                return Feature(available=False, reason=self.webgpu.reason)
            if self.webgpu.is_fallback is not False:
                name = self.webgpu.architecture or "unnamed"
                why = f"the only WebGPU adapter is a fallback (software) adapter: {name}"
                return Feature(available=False, reason=why)
            return Feature(available=True)
        if name == "webgpu":
            return Feature(available=self.webgpu.available, reason=self.webgpu.reason)
        found = getattr(self, name, None)
        if not isinstance(found, Feature):
            return Feature(available=False, reason=f"unknown capability {name!r}")
        return found


def missing(capabilities: Capabilities, requires: Sequence[str]) -> str | None:
    """Why a page that needs `requires` cannot run in this browser, or None when it can."""
    reasons = []
    for name in requires:
        feature = capabilities.feature(name)
        if not feature.available:
            reasons.append(f"{name} ({feature.reason or 'not available'})")
    if not reasons:
        return None
    return "this browser lacks what the page requires: " + "; ".join(reasons)
