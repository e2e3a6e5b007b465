"""The JavaScript API dtf injects into every page: dtf.result, dtf.metric, dtf.done."""

from __future__ import annotations

import json

EVENTS_PATH = "/__dtf__/events"
API_PATH = "/__dtf__/dtf.js"
BLANK_PATH = "/__dtf__/blank.html"
# The in-page function that calls back with every event once the page has finished.
WAIT_SCRIPT = "window.__dtfWait(arguments[arguments.length - 1]);"
# Console lines kept per page, and characters per line: a chatty page must not flood the
# event stream or the stored output.
MAX_LOG_LINES = 200
MAX_LOG_CHARS = 500

# Runs before any script of the page (CDP Page.addScriptToEvaluateOnNewDocument). Events
# stay in the page, for the callback that ends the page, and also go to the page server
# one batch at a time (so they arrive in order): those survive a tab crash or a hang.
# An uncaught error or unhandled rejection ends the page, as an exception ends a pytest
# test. requestAdapter() is wrapped to record which WebGPU adapter the page really got.
_API_TEMPLATE = r"""
(() => {
  if (window.dtf && window.dtf.__dtf) return;
  const TOKEN = __TOKEN__;
  const doc = Math.random().toString(36).slice(2);
  const events = [], pending = [], waiters = [];
  let seq = 0, finished = false, inflight = false, logged = 0;
  const now = () => (performance.timeOrigin + performance.now()) / 1000;
  function flush() {
    if (TOKEN === null || inflight || pending.length === 0) return;
    inflight = true;
    const body = JSON.stringify({token: TOKEN, doc, events: pending.splice(0)});
    fetch("__EVENTS__", {method: "POST", body, keepalive: body.length < 60000,
                         headers: {"Content-Type": "application/json"}})
      .catch(() => {}).finally(() => { inflight = false; flush(); });
  }
  function record(ev) {
    ev.seq = seq++; ev.t = now();
    events.push(ev); pending.push(ev); flush();
  }
  function plain(value) {
    if (value === undefined || value === null) return {};
    if (typeof value !== "object") return {message: String(value)};
    try { return JSON.parse(JSON.stringify(value)); } catch (e) { return {message: String(value)}; }
  }
  function finish() {
    if (finished) return;
    finished = true; record({kind: "done"});
    for (const cb of waiters.splice(0)) cb(events);
  }
  const api = {
    __dtf: true,
    result(name, outcome, details) {
      record({kind: "result", name: String(name), outcome: String(outcome),
              details: plain(details)});
    },
    metric(name, value, unit) {
      record({kind: "metric", name: String(name), value: Number(value),
              unit: unit === undefined ? "" : String(unit)});
    },
    done() { finish(); },
  };
  Object.defineProperty(window, "dtf", {value: api, writable: false, configurable: false});
  window.__dtfWait = (cb) => { if (finished) cb(events); else waiters.push(cb); };
  function stackOf(e) { return e && e.stack ? String(e.stack) : ""; }
  window.addEventListener("error", (e) => {
    const text = e.message || "error";
    record({kind: "error", message: text.startsWith("Uncaught") ? text : "Uncaught " + text,
            source: e.filename || "", line: e.lineno || 0, stack: stackOf(e.error)});
    finish();
  });
  window.addEventListener("unhandledrejection", (e) => {
    const r = e.reason;
    const what = r && r.message ? r.name + ": " + r.message : String(r);
    record({kind: "error", message: "Unhandled rejection: " + what, stack: stackOf(r)});
    finish();
  });
  for (const level of ["log", "info", "warn", "error"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      if (logged++ < __MAX_LINES__) {
        record({kind: "log", level, text: args.map(String).join(" ").slice(0, __MAX_CHARS__)});
      }
      original(...args);
    };
  }
  const gpu = navigator.gpu;
  if (gpu && gpu.requestAdapter) {
    const request = gpu.requestAdapter.bind(gpu);
    gpu.requestAdapter = async (...args) => {
      const adapter = await request(...args);
      if (adapter) {
        const info = adapter.info || {};
        const fallback = info.isFallbackAdapter ?? adapter.isFallbackAdapter;
        record({kind: "adapter", vendor: info.vendor || "", architecture: info.architecture || "",
                device: info.device || "", description: info.description || "",
                is_fallback: fallback === undefined ? null : Boolean(fallback)});
      }
      return adapter;
    };
  }
})();
"""


def api_source(token: str | None) -> str:
    """The API for one page run; with no token (a page opened by hand) nothing is sent."""
    return (
        _API_TEMPLATE.replace("__TOKEN__", json.dumps(token))
        .replace("__EVENTS__", EVENTS_PATH)
        .replace("__MAX_LINES__", str(MAX_LOG_LINES))
        .replace("__MAX_CHARS__", str(MAX_LOG_CHARS))
    )
