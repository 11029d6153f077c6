"""Who may frame /embed is a setting; by default no one, as for every other page."""

import urllib.error
import urllib.request

import pytest

from app.devserver import running_server
from app.settings import Settings

pytestmark = pytest.mark.timeout(90)
COURSE = "https://course.example.org"


def _get(url: str):
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
                                 "*"])
def test_a_frame_ancestor_that_is_not_an_origin_is_refused_at_start(bad):
    with pytest.raises(ValueError, match="frame_ancestors"):
        Settings.from_env(env={"PROPSCOPE_FRAME_ANCESTORS": bad})
