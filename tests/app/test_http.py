"""HTTP routes: page, health, catalog, static files, vendored plotly.js."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app import PROTOCOL_VERSION
from app.main import create_app
from engine.activations import ACTIVATIONS
from engine.datasets import DATASETS
from engine.spec import LIMITS, Spec
from tests.app.support import make_settings


def test_index_renders_template_with_protocol_version(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f'data-protocol="{PROTOCOL_VERSION}"' in response.text


def test_health_reports_status_protocol_and_sessions(client):
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["protocol"] == PROTOCOL_VERSION
    assert body["sessions"] == 0
    assert set(body["loop_lag_ms"]) == {"p50", "p99", "max", "samples"}


def test_catalog_lists_every_registry_limits_and_default_spec(client):
    body = client.get("/api/catalog").json()
    assert [d["name"] for d in body["datasets"]] == list(DATASETS)
    assert [a["name"] for a in body["activations"]] == list(ACTIVATIONS)
    for key in ("losses", "optimizers", "initializers", "regularizations", "features"):
        assert body[key] and all("name" in e and "title" in e for e in body[key])
    assert body["limits"].items() >= LIMITS.items()  # the engine's limits plus the server's
    assert body["limits"]["max_grid_resolution"] == 128
    assert body["limits"]["max_message_bytes"] == 65536
    assert body["default_spec"] == Spec().to_dict()
    circle = next(d for d in body["datasets"] if d["name"] == "circle")
    assert circle["plane"] is True and circle["n_classes"] == 2


def test_plotly_is_served_from_the_installed_package(client):
    response = client.get("/vendor/plotly.min.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert len(response.content) > 1_000_000


def test_static_files_are_served_from_the_static_directory(tmp_path):
    (tmp_path / "hello.css").write_text("body { color: red }")
    app = create_app(make_settings(static_dir=str(tmp_path)))
    with TestClient(app) as c:
        response = c.get("/static/hello.css")
        assert response.status_code == 200
        assert response.text == "body { color: red }"
        assert c.get("/static/missing.js").status_code == 404


def test_catalog_lists_the_lessons_with_complete_specs(client):
    lessons = client.get("/api/catalog").json()["lessons"]
    names = [entry["name"] for entry in lessons]
    assert "vanishing_gradients" in names and "overfitting" in names
    vanishing = lessons[names.index("vanishing_gradients")]
    assert vanishing["look_for"] and vanishing["concept"] == "vanishing gradients"
    assert [h["activation"] for h in vanishing["spec"]["network"]["hidden"]] == ["sigmoid"] * 6
    assert vanishing["spec"]["training"]["optimizer"]["learning_rate"] == 0.03  # defaults filled


def test_head_requests_of_the_page_and_health_answer_ok(client):
    assert client.head("/").status_code == 200
    assert client.head("/api/health").status_code == 200
