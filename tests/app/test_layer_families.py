"""The page streams dense networks; a convolutional or recurrent spec is refused with a reason
and the session keeps the network it had."""

import pytest

from tests.engine.test_convolutional_networks import cnn
from tests.engine.test_recurrent_networks import SINE_RNN


@pytest.mark.parametrize(("spec", "named"), [(cnn("digits"), "conv2d"), (SINE_RNN, "rnn")])
def test_a_network_the_page_cannot_draw_is_refused_and_the_old_one_kept(session, spec, named):
    before = session.snapshot["spec"]
    ack, _ = session.request({"type": "configure", "spec": spec})
    assert ack["type"] == "error" and ack["code"] == "unsupported_network"
    assert named in ack["message"] and "docs/engine.md" in ack["message"]
    ack, _ = session.request({"type": "step", "n": 2})
    assert ack["type"] == "ack" and ack["step"] == 2
    ack, seen = session.request({"type": "reset"})
    snapshot = next(m for m in seen if isinstance(m, dict) and m.get("type") == "snapshot")
    assert snapshot["spec"]["network"] == before["network"]


def test_the_catalog_offers_only_lessons_the_page_can_play():
    from app.routes import catalog
    from engine.lessons import LESSONS

    offered = {lesson["name"] for lesson in catalog()["lessons"]}
    for name in ("vanishing_through_time", "cnn_filters"):  # a recurrent and a convolutional one
        assert name in LESSONS and name not in offered
    assert "chain_rule" in offered
