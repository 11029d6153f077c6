"""Schemathesis: generated requests for every operation in /openapi.json; never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hsettings

from app.main import create_app
from tests.app.support import make_settings

pytestmark = pytest.mark.timeout(120)

app = create_app(make_settings())
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def lifespan():
    with TestClient(app):  # starts the registry the routes use
        yield


# Operations owned by other modules with a known, reported 5xx (remove once fixed; they then
# simply pass). Kept visible as xfail instead of being excluded from the schema run.
KNOWN_5XX: dict[tuple[str, str], str] = {}


@schema.parametrize()
@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    known = KNOWN_5XX.get((case.method.upper(), case.path))
    try:
        response = case.call()  # the ASGI test client re-raises server exceptions
    except Exception:
        if known:
            pytest.xfail(known)
        raise
    if known and response.status_code >= 500:
        pytest.xfail(known)
    assert response.status_code < 500, (case.method, case.path, response.text[:200])
    assert "Traceback" not in response.text
    assert response.headers.get("x-content-type-options") == ["nosniff"]


def test_the_schema_covers_the_api():
    paths = set(app.openapi()["paths"])
    assert {"/api/health", "/api/catalog"} <= paths
