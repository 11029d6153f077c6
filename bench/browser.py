"""Browser benchmark: animation frame rate and frame-to-paint latency in headless Chromium.

Starts a real server (``python -m app serve`` on a free port), opens the page in Debian's
Chromium through Playwright, plays each network and measures, in the page:

* frames per second: ``requestAnimationFrame`` callbacks per second over 5 s windows while
  playing (the network view repaints on every animation frame while playing, so this is also
  its paint rate; the page's own paint counter is reported beside it);
* latency: from a step frame's arrival at the WebSocket (``message`` event) to the end of the
  animation frame that first painted it; and, when the step frame header carries ``sent_at``
  (server unix time when it made the frame, docs/protocol.md §4), from that moment to the same
  paint (``Date.now() / 1000 − sent_at``; server and browser share the machine's clock).

* main-thread long tasks (``PerformanceObserver`` ``longtask``, > 50 ms): their total time per
  second and the longest one — what a chart redraw costs the animation — and how often each
  chart redrew (``window.__propscope.charts.renders()``, when the page offers it).

Writes its section between ``<!-- bench:browser -->`` and ``<!-- /bench:browser -->`` in
docs/performance.md (other sections are kept). Usage: ``python bench/browser.py``;
``--cases 6`` runs only the cases whose name contains "6", ``--speeds max``, ``--repeat 3``
alternates the cases three times, ``--no-write`` leaves the document alone. The server's
``PROPSCOPE_STATIC_DIR`` / ``PROPSCOPE_TEMPLATES_DIR`` pass through, so another front end (e.g. an
older build) can be measured in the same conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.devserver import running_server  # noqa: E402
from bench.perf_doc import PERF_DOC, write_section  # noqa: E402

CHROMIUM = os.environ.get("PROPSCOPE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage"]
WINDOW_S = 5.0
WINDOWS = 3
VIEWPORT = {"width": 1920, "height": 1080}
ALL_FEATURES = ["x1", "x2", "x1_sq", "x2_sq", "x1_x2", "sin_x1", "sin_x2"]
# 64-128-64-10 over the 8×8 digits: flatten, then dense layers (8 192 + 8 192 + 640 links)
DIGITS_DENSE = {
    "data": {"dataset": "digits"},
    "network": {"hidden": [], "layers": [
        {"type": "flatten"},
        {"type": "dense", "units": 128, "activation": "relu"},
        {"type": "dense", "units": 64, "activation": "relu"},
    ], "output_activation": "softmax"},
    "training": {"loss": "cce"},
}
DIGITS_NAME = "digits 64-128-64-10, ~17 000 links (goal ≥ 30 fps)"

# the largest dense network the spec accepts on a 2-D data set: 2-352-352-352-1, 249 921
# parameters, 248 864 links (two gaps of 123 904); frames of it must paint ≥ 15 a second
BIG_NAME = "3 hidden × 352, circle, ~250 k parameters (goal ≥ 15 step frames painted/s)"
BIG = {"data": {"dataset": "circle"}, "network": {"hidden": [{"units": 352}] * 3}}
BIG_PAINTED_GOAL = 15.0

CASES = [
    ("6 hidden × 8, circle (goal ≥ 55 fps)",
     {"data": {"dataset": "circle"}, "network": {"hidden": [{"units": 8}] * 6}}),
    ("default [4, 2], circle",
     {"data": {"dataset": "circle"}}),
    ("spiral [8, 8, 8], all 7 inputs",
     {"data": {"dataset": "spiral", "features": ALL_FEATURES},
      "network": {"hidden": [{"units": 8}] * 3}}),
    (DIGITS_NAME + ", wide layers collapsed", DIGITS_DENSE),
    (DIGITS_NAME + ", every layer expanded", DIGITS_DENSE),
    (BIG_NAME, BIG),
]
SPEEDS = ["max", 100]
LOAD_BEFORE = "n/a"

# installed before the page's scripts run: long tasks seen from then on
LONGTASK_JS = """(() => {
  window.__benchLong = [];
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__benchLong.push([e.startTime, e.duration]);
    }).observe({ type: "longtask", buffered: true });
  } catch (err) { /* not supported */ }
})();"""

# installed before the page's scripts run: its `painted` reports are dropped at the socket
UNPACED_JS = """(() => {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data === "string" && data.includes('"type":"painted"')) return;
    return send.call(this, data);
  };
})();"""

MEASURE_JS = """(seconds) => new Promise((resolve) => {
  const stats = window.__propscope.network.stats;
  const charts = window.__propscope.charts;
  const r0 = charts && charts.renders ? charts.renders() : null;
  const p0 = stats.paints;
  const l0 = stats.latencies.length;
  const s0 = stats.serverLatencies.length;
  const store = window.__propscope.store;
  let received = 0;
  let seen = store.get('stepFrame');
  const stop = store.subscribe(['stepFrame'], (st) => {
    if (st.stepFrame !== seen) { seen = st.stepFrame; received++; }
  });
  const t0 = performance.now();
  let n = 0;
  const deltas = [];
  let last = t0;
  function tick(now) {
    n++;
    deltas.push(now - last);
    last = now;
    if (performance.now() - t0 < seconds * 1000) requestAnimationFrame(tick);
    else {
      const t1 = performance.now();
      const dt = (t1 - t0) / 1000;
      if (typeof stop === 'function') stop();
      const long = (window.__benchLong || []).filter(([s]) => s >= t0 && s < t1).map(([, d]) => d);
      const r1 = r0 ? charts.renders() : null;
      const renders = r0 ? Object.keys(r1).reduce((a, k) => a + r1[k] - r0[k], 0) / dt : null;
      resolve({fps: n / dt, paints: (stats.paints - p0) / dt,
               longMs: long.reduce((a, d) => a + d, 0) / dt, longMax: Math.max(0, ...long),
               renders, received: received / dt,
               latencies: stats.latencies.slice(l0),
               serverLatencies: stats.serverLatencies.slice(s0),
               steps: window.__propscope.store.get('step')});
    }
  }
  requestAnimationFrame(tick);
})"""


def wait_js(page, expression: str, timeout: float = 30.0) -> None:
    """Poll with page.evaluate (wait_for_function's eval is blocked by the page's CSP)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"!!({expression})"):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.05)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_case(browser, base: str, name: str, spec: dict, speed, paced: bool = True) -> dict:
    """One network at one speed. ``paced=False``: the page's paint reports never leave it
    (UNPACED_JS), so the server streams at the display rate — the reference for pacing
    (docs/protocol.md §5), measured with the same server and page."""
    page = browser.new_page(viewport=VIEWPORT)
    page.add_init_script(LONGTASK_JS)
    if not paced:
        page.add_init_script(UNPACED_JS)
    try:
        url = f"{base}/#spec=" + urllib.parse.quote(json.dumps(spec, separators=(",", ":")))
        page.goto(url)
        network = spec.get("network", {})
        layers = len(network["layers"]) if "layers" in network else len(
            network.get("hidden", [{}, {}]))
        # a plane waits for its first grid frame (the thumbnails), other data for a step frame
        drawn = "p.store.get('gridFrame')" if "digits" not in json.dumps(spec) else (
            "p.store.get('stepFrame')")
        wait_js(page, "(() => { const p = window.__propscope;"
                " const s = p && p.store.get('snapshot');"
                f" return s && s.network.layers.length === {layers + 1}"
                f" && {drawn}; }})()")
        if "expanded" in name:
            for button in page.locator("button.strip-toggle").all():
                button.click()
            wait_js(page, "[0, 1, 2].every((c) => !window.__propscope.network.strip(c).collapsed)")
            page.mouse.move(1, 1)
            page.evaluate("document.activeElement.blur()")  # Space plays, not presses a button
        page.evaluate(f"window.__propscope.store.set({{speed: {json.dumps(speed)}}})")
        page.keyboard.press("Space")
        wait_js(page, "window.__propscope.store.get('playing') === true")
        page.evaluate("(s) => new Promise(r => setTimeout(r, s * 1000))", 1.0)  # warm up
        windows = [page.evaluate(MEASURE_JS, WINDOW_S) for _ in range(WINDOWS)]
        page.keyboard.press("Space")
        latencies = [x for w in windows for x in w["latencies"]]
        server = [x for w in windows for x in w["serverLatencies"]]
        return {
            "fps": statistics.median(w["fps"] for w in windows),
            "fps_min": min(w["fps"] for w in windows),
            "long_ms": statistics.median(w["longMs"] for w in windows),
            "long_max": max(w["longMax"] for w in windows),
            "renders": (statistics.median(w["renders"] for w in windows)
                        if windows[0]["renders"] is not None else None),
            "paints": statistics.median(w["paints"] for w in windows),
            "received": statistics.median(w["received"] for w in windows),
            "lat_p50": percentile(latencies, 0.5),
            "lat_p95": percentile(latencies, 0.95),
            "srv_p50": percentile(server, 0.5),
            "srv_p95": percentile(server, 0.95),
            "frames": len(latencies),
            "steps": windows[-1]["steps"],
        }
    finally:
        page.close()


def fmt_ms(v: float) -> str:
    return "—" if v != v else f"{v:.1f}"


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "chromium"
    except (OSError, subprocess.SubprocessError):
        return "chromium"


def combine(runs: list[dict]) -> dict:
    """The median over repeated runs of one row (min: the lowest window of any run)."""
    out = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None and r[key] == r[key]]
        if key in ("fps_min",):
            out[key] = min(values) if values else float("nan")
        elif key in ("long_max",):
            out[key] = max(values) if values else float("nan")
        else:
            out[key] = statistics.median(values) if values else float("nan")
    return out


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="", help="only cases whose name contains this text")
    ap.add_argument("--speeds", default="", help="comma list, e.g. max,100 (default: both)")
    ap.add_argument("--repeat", type=int, default=1, help="run the cases this many times, "
                    "alternating (rows show the median over runs)")
    ap.add_argument("--no-write", action="store_true", help="do not touch docs/performance.md")
    ap.add_argument("--pacing", action="store_true", help="only the three Playground setups, "
                    "each paced and unpaced in turns (section browser-pacing)")
    return ap.parse_args(argv)


PLAYGROUND = 3  # the first CASES: the Playground's own setups
SEND_PAINT_GOAL_MS = 50.0


def pacing_main(args) -> int:
    """Send → paint with the page pacing its step frames (docs/protocol.md §5) against the same
    page not reporting its paints, in turns on one server: the reference is measured with it."""
    cases = CASES[:PLAYGROUND]
    speeds = ([x if x == "max" else int(x) for x in args.speeds.split(",")] if args.speeds
              else SPEEDS)
    load_before = load_average()
    runs: dict[tuple, list[dict]] = {}
    with running_server(timeout=30) as srv:
        with sync_playwright_browser() as browser:
            for _ in range(max(1, args.repeat)):
                for name, spec in cases:
                    for speed in speeds:
                        for paced in (True, False):
                            r = run_case(browser, srv.base, name, spec, speed, paced)
                            runs.setdefault((name, speed, paced), []).append(r)
                            print(f"{name:32s} {speed!s:>4} {'paced' if paced else 'unpaced':8s}"
                                  f" received {r['received']:.1f}/s painted "
                                  f"{r['frames'] / (WINDOWS * WINDOW_S):.1f}/s; send → paint p50 "
                                  f"{r['srv_p50']:.1f} p95 {r['srv_p95']:.1f} ms", flush=True)
    if args.no_write:
        return 0
    lines = [
        f"The three Playground setups, each played with the page pacing its step frames "
        f"(it reports every step frame it has drawn, docs/protocol.md §5) and, in turns on the "
        f"same server, with the same page not reporting (the server then streams at the display "
        f"rate, 30 a second). Headless {chromium_version()}, viewport "
        f"{VIEWPORT['width']}×{VIEWPORT['height']}; {WINDOWS} windows of {WINDOW_S:.0f} s per "
        f"run, {max(1, args.repeat)} runs in turns, medians; load average before "
        f"{load_before}. `python bench/browser.py --pacing`.",
        "",
        "| network | speed | pacing | step frames received /s | painted /s | "
        "server send → paint p50 ms | p95 ms | goal p95 ≤ 50 ms |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for (name, speed, paced), rs in runs.items():
        r = combine(rs)
        painted = r["frames"] / (WINDOWS * WINDOW_S)
        met = ("✓" if r["srv_p95"] <= SEND_PAINT_GOAL_MS else "✗") if paced else ""
        lines.append(f"| {name} | {speed} | {'paced' if paced else 'not paced'} | "
                     f"{r['received']:.1f} | {painted:.1f} | {fmt_ms(r['srv_p50'])} | "
                     f"{fmt_ms(r['srv_p95'])} | {met} |")
    write_section("browser-pacing", "\n".join(lines), "Browser: step frames paced by painting")
    print(f"wrote {PERF_DOC.relative_to(ROOT)}")
    return 0


class sync_playwright_browser:
    """Chromium through Playwright, closed on exit."""

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        self._p = sync_playwright().start()
        self.browser = self._p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        return self.browser

    def __exit__(self, *exc) -> None:
        self.browser.close()
        self._p.stop()


def main(argv=None) -> int:
    args = parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}", file=sys.stderr)
        return 2
    if args.pacing:
        return pacing_main(args)
    from playwright.sync_api import sync_playwright

    cases = [(n, spec) for n, spec in CASES if args.cases in n]
    speeds = ([x if x == "max" else int(x) for x in args.speeds.split(",")] if args.speeds
              else SPEEDS)
    global LOAD_BEFORE
    LOAD_BEFORE = load_average()
    runs: dict[tuple, list[dict]] = {}
    with running_server(timeout=30) as srv:
        base = srv.base
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for _ in range(max(1, args.repeat)):
                for name, spec in cases:
                    for speed in speeds:
                        r = run_case(browser, base, name, spec, speed)
                        runs.setdefault((name, speed), []).append(r)
                        renders = "—" if r["renders"] is None else f"{r['renders']:.2f}/s"
                        print(f"{name:40s} speed {speed!s:>4}: {r['fps']:.1f} fps, "
                              f"{r['frames'] / (WINDOWS * WINDOW_S):.1f} step frames painted/s "
                              f"(min {r['fps_min']:.1f}), long tasks {r['long_ms']:.0f} ms/s "
                              f"(max {r['long_max']:.0f} ms), chart redraws {renders}, "
                              f"latency p50 {r['lat_p50']:.1f} ms p95 {r['lat_p95']:.1f} ms; "
                              f"server send → paint p50 {r['srv_p50']:.1f} "
                              f"p95 {r['srv_p95']:.1f} ms", flush=True)
            browser.close()
    if args.no_write:
        return 0

    rows = [(name, speed, combine(rs)) for (name, speed), rs in runs.items()]
    goal = next((r for n, s, r in rows if n.startswith("6 hidden") and s == "max"), None)
    repeat = max(1, args.repeat)
    lines = [
        f"Headless {chromium_version()} (`--disable-gpu`, software rendering), viewport "
        f"{VIEWPORT['width']}×{VIEWPORT['height']}, server and browser on the same machine "
        f"({platform.machine()}, {os.cpu_count()} CPUs). `python bench/browser.py`; "
        f"{WINDOWS} windows of {WINDOW_S:.0f} s per row"
        + (f", {repeat} alternating runs" if repeat > 1 else "")
        + ", median shown (min in brackets).",
        "",
        "| network | play speed | animation fps (rAF) | network repaints/s | "
        "long tasks ms/s (max ms) | chart redraws/s | "
        "frame → paint p50 ms | p95 ms | server send → paint p50 ms | p95 ms | "
        "step frames painted | painted /s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, speed, r in rows:
        label = "max" if speed == "max" else f"{speed} steps/s"
        lines.append(
            f"| {name} | {label} | {r['fps']:.1f} ({r['fps_min']:.1f}) | {r['paints']:.1f} | "
            f"{r['long_ms']:.0f} ({r['long_max']:.0f}) | {fmt_ms(r['renders'])} | "
            f"{r['lat_p50']:.1f} | {r['lat_p95']:.1f} | {fmt_ms(r['srv_p50'])} | "
            f"{fmt_ms(r['srv_p95'])} | {r['frames']:.0f} | "
            f"{r['frames'] / (WINDOWS * WINDOW_S):.1f} |"
        )
    if goal is not None:
        met = "yes" if goal["fps"] >= 55 else "no"
        lines += [
            "",
            f"Goal: ≥ 55 fps median on the 6 × 8 network with thumbnails while playing at max "
            f"speed — met: **{met}** ({goal['fps']:.1f} fps).",
        ]
    digits = [(n, s, r) for n, s, r in rows if n.startswith(DIGITS_NAME)]
    if digits:
        worst = min(r["fps"] for _, _, r in digits)
        met = "yes" if worst >= 30 else "no"
        lines += [
            "",
            f"Goal: ≥ 30 fps median on the 64-128-64-10 digits network (flatten + dense, "
            f"8 192 + 8 192 + 640 links), collapsed and expanded, at every speed — met: "
            f"**{met}** (lowest {worst:.1f} fps). Collapsed, links to a strip are bundled per "
            "row of its cells (a few hundred strokes); expanded, every link is a segment, "
            "batched into one path per sign × strength bucket (12 strokes per gap), the weakest "
            "left out beyond what the gap has room for; the wave shows the 64 strongest.",
        ]
    big = [(s, r) for n, s, r in rows if n == BIG_NAME]
    if big:
        worst = min(r["frames"] / (WINDOWS * WINDOW_S) for _, r in big)
        met = "yes" if worst >= BIG_PAINTED_GOAL else "no"
        lines += [
            "",
            f"Goal: ≥ {BIG_PAINTED_GOAL:.0f} step frames painted a second on the largest dense "
            f"network the spec accepts (2-352-352-352-1, 249 921 parameters) at every speed — "
            f"met: **{met}** (lowest {worst:.1f}/s, send → paint p95 "
            f"{max(r['srv_p95'] for _, r in big):.0f} ms).",
        ]
    lines += [
        "",
        "Latency: *frame → paint* runs from the step frame's WebSocket `message` event to the "
        "end of the animation frame that first drew it; *server send → paint* from the frame "
        "header's `sent_at` (server clock when the frame was made) to the same moment "
        "(`Date.now()` in the page; one machine, one clock), so it adds the server's send queue "
        "and the socket. The network background is redrawn when a phase segment changes and for "
        "new data at most every 90 ms while playing; the moving wave is drawn every animation "
        "frame on a small canvas covering only the layer it crosses. *Long tasks*: main-thread "
        "tasks over 50 ms (`PerformanceObserver`), total per second of play and the longest; "
        "the charts (plotly.js) redraw at most once a second each while playing (histograms "
        "every 2 s), one chart per 250 ms tick. At max speed the server's "
        "training thread and the browser share the 2 cores; headless Chromium without a GPU "
        "rasterises canvases in software. Other processes on the machine move these numbers: "
        f"load average before the run {LOAD_BEFORE}.",
    ]
    write_section("browser", "\n".join(lines), "Browser")
    print(f"wrote {PERF_DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
