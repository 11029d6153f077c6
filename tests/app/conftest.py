"""Fixtures for the server tests: an app, a TestClient, and a small protocol client."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.support import WsClient, make_settings


@pytest.fixture
def app():
    return create_app(make_settings())


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def session(client):
    with client.websocket_connect("/ws") as ws:
        c = WsClient(ws)
        c.handshake()
        yield c
