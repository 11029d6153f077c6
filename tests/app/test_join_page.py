"""A student's way into a room: /join takes the code typed from the teacher's screen, and a
wrong or closed code gets a page that says what went wrong, with the form to try again."""

from __future__ import annotations

import pytest

from app.main import create_app
from app.settings import Settings
from tests.app.test_rooms import open_room

pytestmark = pytest.mark.timeout(60)


def test_the_join_page_is_a_form_for_the_room_code(client):
    page = client.get("/join")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'name="code"' in page.text and 'action="/join"' in page.text
    assert "content-security-policy" in page.headers


def test_a_typed_code_opens_its_room_whatever_the_case_and_spaces(client, session):
    code = open_room(session)["code"]
    typed = f" {code[:3].lower()} {code[3:]} "
    answer = client.get("/join", params={"code": typed}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/r/{code}"
    room = client.get(answer.headers["location"])
    assert room.status_code == 200 and f'data-room-code="{code}"' in room.text


def test_an_unknown_room_gets_the_form_again_with_the_reason(client):
    page = client.get("/r/ZZZZZZ")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "There is no open room &#39;ZZZZZZ&#39;" in page.text
    assert 'value="ZZZZZZ"' in page.text  # ready to correct one letter


def test_a_closed_room_is_an_unknown_one(client, session):
    code = open_room(session)["code"]
    ack, _ = session.request({"type": "room_close"})
    assert ack["type"] == "ack"
    assert client.get(f"/r/{code}").status_code == 404


def test_a_code_of_the_wrong_length_or_letters_is_explained_without_a_lookup(client):
    short = client.get("/join", params={"code": "AB3"})
    assert short.status_code == 404 and "A room code is 6 letters and digits" in short.text
    zero = client.get("/join", params={"code": "ABC0EF"})  # 0 is never in a code
    assert zero.status_code == 404 and "never O, 0, I, 1 or L" in zero.text
    assert client.app.state.services.rooms.joins.buckets == {}  # no attempt was counted


def test_an_address_guessing_codes_is_told_to_wait():
    from fastapi.testclient import TestClient

    app = create_app(Settings(room_join_burst=2, room_join_failures_per_s=0.01))
    with TestClient(app) as guesser:
        answers = [guesser.get("/join", params={"code": f"ABCDE{c}"}).status_code for c in "FGHJ"]
    assert answers[:2] == [404, 404] and set(answers[2:]) == {429}


def test_what_a_student_typed_is_echoed_escaped_and_cut(client):
    page = client.get("/join", params={"code": "<script>alert(1)</script>"})
    assert page.status_code == 404
    assert "<script>alert" not in page.text.lower()
    assert "&lt;SCRIPT&gt;" in page.text
