"""The code downloads over HTTP, from a real server process with a real SQLite file."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

import propscope as ps
from app.devserver import running_server
from app.storage import Storage
from engine import persistence
from propscope.code_export import export_code

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A trained network saved as an experiment, and a server over that database."""
    db = tmp_path_factory.mktemp("db") / "code.db"
    trainer = ps.make_trainer(data={"dataset": "moons"},
                              training={"optimizer": {"name": "adam", "learning_rate": 0.01}})
    trainer.train(17)
    storage = Storage(db)
    exp, _ = storage.save("my moons / run", trainer.spec.to_dict(), persistence.to_npz(trainer),
                          None, trainer.step_count, "moons")
    storage.close()
    with running_server("--db", str(db)) as server:
        yield server, exp.id, trainer


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.mark.parametrize("language", ["numpy", "pytorch"])
def test_a_saved_experiment_downloads_as_the_script_of_its_saved_state(saved, language):
    server, exp_id, trainer = saved
    status, headers, body = _get(f"{server.base}/api/experiments/{exp_id}/code?language={language}")
    assert status == 200
    assert body.decode() == export_code(trainer, language)
    suffix = "torch" if language == "pytorch" else "numpy"
    assert headers.get("Content-Disposition") == \
        f'attachment; filename="propscope-my-moons-run-{suffix}.py"'


def test_a_spec_in_the_url_downloads_a_fresh_network(saved):
    server = saved[0]
    spec = {"data": {"dataset": "xor"}, "network": {"hidden": [{"units": 3}]}}
    query = urllib.parse.urlencode({"spec": json.dumps(spec), "language": "numpy"})
    status, _, body = _get(f"{server.base}/api/code?{query}")
    assert status == 200
    assert body.decode() == export_code(ps.make_trainer(spec), "numpy")


def test_unknown_experiment_language_and_bad_spec_are_clear_errors(saved):
    server, exp_id, _ = saved
    status, _, body = _get(f"{server.base}/api/experiments/nosuchthing/code")
    assert status == 404 and b"no experiment" in body
    status, _, body = _get(f"{server.base}/api/experiments/{exp_id}/code?language=julia")
    assert status == 400 and b"numpy, pytorch" in body
    bad = urllib.parse.quote(json.dumps({"network": {"hidden": [{"units": 0}]}}))
    status, _, body = _get(f"{server.base}/api/code?spec={bad}")
    assert status == 400 and json.loads(body)["error"]["problems"][0][0] == \
        "network.hidden[0].units"
    status, _, body = _get(f"{server.base}/api/code?spec=%7Bnope")
    assert status == 400 and b"not JSON" in body


@pytest.mark.parametrize("language", ["numpy", "pytorch"])
def test_a_convolutional_or_recurrent_spec_downloads_its_layered_script(saved, language):
    server = saved[0]
    for spec in (
        {"data": {"dataset": "shapes"},
         "network": {"layers": [{"type": "conv2d", "filters": 2}, {"type": "maxpool"},
                                {"type": "flatten"}], "output_activation": "softmax"},
         "training": {"loss": "cce"}},
        {"data": {"dataset": "sine_next"}, "network": {"layers": [{"type": "lstm", "units": 3}]}},
    ):
        query = urllib.parse.urlencode({"spec": json.dumps(spec), "language": language})
        status, headers, body = _get(f"{server.base}/api/code?{query}")
        assert status == 200
        assert body.decode() == export_code(ps.make_trainer(spec), language)
        assert "LAYERS = [" in body.decode()
        assert headers.get("Content-Disposition").startswith(
            f'attachment; filename="propscope-{spec["data"]["dataset"]}-')
