"""Browser benchmark: animation frame rate and frame-to-paint latency in headless Chromium.

Starts a real server (``python -m app serve`` on a free port), opens the page in Debian's
Chromium through Playwright, plays each network and measures, in the page:

* frames per second: ``requestAnimationFrame`` callbacks per second over 5 s windows while
  playing (the network view repaints on every animation frame while playing, so this is also
  its paint rate; the page's own paint counter is reported beside it);
* latency: from a step frame's arrival at the WebSocket (``message`` event) to the end of the
  animation frame that first painted it. The step frame header carries no server send time,
  so the network part (server → browser) is not included; over loopback it is small.

Writes its section between ``<!-- bench:browser -->`` and ``<!-- /bench:browser -->`` in
docs/performance.md (other sections are kept). Usage: ``python bench/browser.py``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
CHROMIUM = os.environ.get("PROPSCOPE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage"]
WINDOW_S = 5.0
WINDOWS = 3
VIEWPORT = {"width": 1920, "height": 1080}
ALL_FEATURES = ["x1", "x2", "x1_sq", "x2_sq", "x1_x2", "sin_x1", "sin_x2"]

CASES = [
    ("6 hidden × 8, circle (goal ≥ 55 fps)",
     {"data": {"dataset": "circle"}, "network": {"hidden": [{"units": 8}] * 6}}),
    ("default [4, 2], circle",
     {"data": {"dataset": "circle"}}),
    ("spiral [8, 8, 8], all 7 inputs",
     {"data": {"dataset": "spiral", "features": ALL_FEATURES},
      "network": {"hidden": [{"units": 8}] * 3}}),
]
SPEEDS = ["max", 100]

MEASURE_JS = """(seconds) => new Promise((resolve) => {
  const stats = window.__propscope.network.stats;
  const p0 = stats.paints;
  const l0 = stats.latencies.length;
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
      const dt = (performance.now() - t0) / 1000;
      resolve({fps: n / dt, paints: (stats.paints - p0) / dt,
               latencies: stats.latencies.slice(l0),
               steps: window.__propscope.store.get('step')});
    }
  }
  requestAnimationFrame(tick);
})"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=1):
                return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


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


def run_case(browser, base: str, spec: dict, speed) -> dict:
    page = browser.new_page(viewport=VIEWPORT)
    try:
        url = f"{base}/#spec=" + urllib.parse.quote(json.dumps(spec, separators=(",", ":")))
        page.goto(url)
        hidden = len(spec.get("network", {}).get("hidden", [{}, {}]))
        wait_js(page, "(() => { const p = window.__propscope;"
                " const s = p && p.store.get('snapshot');"
                f" return s && s.network.layers.length === {hidden + 1}"
                " && p.store.get('gridFrame'); })()")
        page.evaluate(f"window.__propscope.store.set({{speed: {json.dumps(speed)}}})")
        page.keyboard.press("Space")
        wait_js(page, "window.__propscope.store.get('playing') === true")
        page.evaluate("(s) => new Promise(r => setTimeout(r, s * 1000))", 1.0)  # warm up
        windows = [page.evaluate(MEASURE_JS, WINDOW_S) for _ in range(WINDOWS)]
        page.keyboard.press("Space")
        latencies = [x for w in windows for x in w["latencies"]]
        return {
            "fps": statistics.median(w["fps"] for w in windows),
            "fps_min": min(w["fps"] for w in windows),
            "paints": statistics.median(w["paints"] for w in windows),
            "lat_p50": percentile(latencies, 0.5),
            "lat_p95": percentile(latencies, 0.95),
            "frames": len(latencies),
            "steps": windows[-1]["steps"],
        }
    finally:
        page.close()


def chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "chromium"
    except (OSError, subprocess.SubprocessError):
        return "chromium"


def write_section(text: str) -> None:
    start, end = "<!-- bench:browser -->", "<!-- /bench:browser -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    if DOC.exists():
        doc = DOC.read_text()
        if start in doc and end in doc:
            doc = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, doc,
                         flags=re.S)
        else:
            doc = doc.rstrip() + "\n\n## Browser\n\n" + block + "\n"
    else:
        doc = "# Performance\n\n## Browser\n\n" + block + "\n"
    DOC.write_text(doc)


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    proc, base = start_server()
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for name, spec in CASES:
                for speed in SPEEDS:
                    r = run_case(browser, base, spec, speed)
                    rows.append((name, speed, r))
                    print(f"{name:40s} speed {speed!s:>4}: {r['fps']:.1f} fps "
                          f"(min {r['fps_min']:.1f}), latency p50 {r['lat_p50']:.1f} ms "
                          f"p95 {r['lat_p95']:.1f} ms", flush=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    goal = next(r for n, s, r in rows if n.startswith("6 hidden") and s == "max")
    met = "yes" if goal["fps"] >= 55 else "no"
    lines = [
        f"Headless {chromium_version()} (`--disable-gpu`, software rendering), viewport "
        f"{VIEWPORT['width']}×{VIEWPORT['height']}, server and browser on the same machine "
        f"({platform.machine()}, {os.cpu_count()} CPUs). `python bench/browser.py`; "
        f"{WINDOWS} windows of {WINDOW_S:.0f} s per row, median shown (min in brackets).",
        "",
        "| network | play speed | animation fps (rAF) | network repaints/s | "
        "frame → paint p50 ms | p95 ms | step frames painted |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, speed, r in rows:
        label = "max" if speed == "max" else f"{speed} steps/s"
        lines.append(
            f"| {name} | {label} | {r['fps']:.1f} ({r['fps_min']:.1f}) | {r['paints']:.1f} | "
            f"{r['lat_p50']:.1f} | {r['lat_p95']:.1f} | {r['frames']} |"
        )
    lines += [
        "",
        f"Goal: ≥ 55 fps median on the 6 × 8 network with thumbnails while playing at max "
        f"speed — met: **{met}** ({goal['fps']:.1f} fps).",
        "",
        "Latency is measured in the page from the step frame's WebSocket `message` event to the "
        "end of the animation frame that first drew it (the step frame header has no server "
        "send timestamp, so server → browser transit is not included). The network "
        "background is redrawn at most every 90 ms while playing, so p50 sits near half that. "
        "At max speed the server's training thread and the browser share the 2 cores; headless "
        "Chromium without a GPU rasterises in software and may cap rAF below the display rate.",
    ]
    write_section("\n".join(lines))
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
