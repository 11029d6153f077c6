"""Who may frame /embed is a setting; by default no one, as for every other page."""

import asyncio
import concurrent.futures
import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from app.devserver import ROOT, running_server
from app.settings import Settings

pytestmark = pytest.mark.timeout(90)
COURSE = "https://course.example.org"


def _get(url: str | urllib.request.Request):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def _frame_ancestors(headers) -> str:
    directives = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"]
                      .split(";"))
    return directives["frame-ancestors"]


@pytest.fixture(scope="module")
def default_server():
    with running_server() as server:
        yield server


@pytest.fixture(scope="module")
def course_server():
    with running_server(env={"PROPSCOPE_FRAME_ANCESTORS": f"{COURSE}, 'self'"}) as server:
        yield server


def test_by_default_the_embed_page_may_not_be_framed(default_server):
    status, headers, body = _get(default_server.base + "/embed")
    assert status == 200 and 'src="/static/js/embed.js"' in body
    assert _frame_ancestors(headers) == "'none'"
    assert headers["x-frame-options"] == "DENY"


def test_the_setting_lets_the_named_sites_frame_the_embed_page_only(course_server):
    _, headers, _ = _get(course_server.base + "/embed?panel=loss")
    assert _frame_ancestors(headers) == f"{COURSE} 'self'"
    assert headers["x-frame-options"] is None  # it cannot name origins; CSP decides
    for path in ("/", "/api/catalog", "/static/js/embed.js"):
        _, headers, _ = _get(course_server.base + path)
        assert _frame_ancestors(headers) == "'none'", path
        assert headers["x-frame-options"] == "DENY", path


def test_each_panel_renders_only_its_own_view(default_server):
    for panel, marker in (("data", 'id="data"'), ("loss", 'id="chart-loss"'),
                          ("grad", 'id="chart-grad"'), ("hist", 'id="chart-hist"'),
                          ("inspector", 'id="inspector"')):
        _, _, body = _get(f"{default_server.base}/embed?panel={panel}")
        assert marker in body and body.count('class="embed-panel') == 1, panel
    _, _, body = _get(f"{default_server.base}/embed?panel=none&controls=0")
    assert "embed-panel" not in body.split("<main", 1)[1] and 'id="btn-play"' not in body


def test_an_unknown_panel_is_a_clear_error(default_server):
    status, _, body = _get(default_server.base + "/embed?panel=everything")
    assert status == 400 and "data, loss, grad, hist, inspector, none" in body


@pytest.mark.parametrize("bad", ["course.example.org", "https://a.org/", "https://a.org;x",
                                 "*", "https://a.org/course", "ftp://a.org", "'none'", "https://"])
def test_a_frame_ancestor_that_is_not_an_origin_is_refused_at_start(bad):
    with pytest.raises(ValueError, match="frame_ancestors"):
        Settings.from_env(env={"PROPSCOPE_FRAME_ANCESTORS": bad})


def test_the_frame_ancestors_flag_lets_the_named_sites_frame_the_embed_page_only():
    with running_server("--frame-ancestors", "https://course.example.edu 'self'") as server:
        _, headers, _ = _get(server.base + "/embed?panel=grad")
        assert _frame_ancestors(headers) == "https://course.example.edu 'self'"
        assert headers["x-frame-options"] is None
        _, headers, _ = _get(server.base + "/")
        assert _frame_ancestors(headers) == "'none'"
        assert headers["x-frame-options"] == "DENY"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("bad", ["course.example.edu", "https://course.example.edu/week1", "*",
                                 ""])
def test_a_frame_ancestors_flag_that_is_not_origins_stops_the_cli_with_a_usage_error(bad):
    result = _cli("serve", "--frame-ancestors", f"https://ok.example.edu {bad}".strip()
                  if bad else "")
    assert result.returncode == 2
    assert "argument --frame-ancestors:" in result.stderr
    assert (repr(bad) if bad else "at least one origin") in result.stderr
    assert "Uvicorn running" not in result.stderr


def test_the_help_text_documents_the_frame_ancestors_flag():
    result = _cli("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "--frame-ancestors ORIGINS" in text
    assert "https://course.example.edu, or 'self'" in text


@pytest.mark.parametrize("good", ["https://*.example.edu", "http://10.0.0.5:8000",
                                  "http://[::1]:8000", "https://course.example.edu, 'self'"])
def test_origins_wildcard_subdomains_addresses_and_self_are_accepted(good):
    assert Settings.from_env(env={"PROPSCOPE_FRAME_ANCESTORS": good}).frame_ancestor_list() == \
        [o.strip(",") for o in good.split()]


def test_a_site_allowed_to_frame_the_embed_still_cannot_post_or_open_its_websocket(course_server):
    """frame_ancestors widens who may *frame* /embed, nothing else: the course site's own
    requests are cross-site like any other site's."""
    import websockets

    for method, path, kind in (("POST", "/api/import", "application/json"),
                               ("DELETE", "/api/experiments/x", "application/json"),
                               ("POST", "/api/animation", "text/plain")):
        request = urllib.request.Request(course_server.base + path, data=b"{}", method=method,
                                         headers={"Origin": COURSE, "Content-Type": kind})
        status, _, body = _get(request)
        assert status == 403 and json.loads(body)["error"]["code"] == "cross_origin", path

    async def handshake() -> int:
        url = course_server.base.replace("http", "ws", 1) + "/ws"
        try:
            ws = await websockets.connect(url, origin=COURSE)
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
        await ws.close()
        return 101

    # On its own thread: a browser test earlier in the session may leave an event loop running
    # on this one (Playwright's sync API), where asyncio.run refuses to start.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, handshake()).result() == 403
    own = course_server.base  # the embed frame's own origin is the server's: it may connect
    request = urllib.request.Request(own + "/api/import", data=b"{}", method="POST",
                                     headers={"Origin": own, "Content-Type": "application/json"})
    status, _, body = _get(request)  # reaches the route, which reads the (empty) export
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_import"
