"""Exported scripts rebuild the network and continue training as the engine does.

The scripts run in a separate Python process (isolated mode, from an empty folder; one process
per language runs every case, since importing torch takes seconds) and save their parameters and
their last step's gradients; these must equal the engine's next steps.
"""

import ast
import subprocess
import sys

import numpy as np
import pytest

import propscope as ps
from propscope.code_export import export_code

CASES = {
    "sgd-mse-tanh": {
        "data": {"dataset": "xor", "n_samples": 80},
        "training": {"batch_size": 12},
    },
    "adam-dropout-l2": {
        "data": {"dataset": "circle", "n_samples": 100},
        "network": {"hidden": [{"units": 5, "activation": "relu", "dropout": 0.3},
                               {"units": 3, "activation": "tanh"}], "initializer": "he_uniform"},
        "training": {"batch_size": 15, "regularization": "l2", "regularization_rate": 0.01,
                     "optimizer": {"name": "adam", "learning_rate": 0.01}},
    },
    "nesterov-bce-l1": {
        "data": {"dataset": "gauss", "n_samples": 60},
        "network": {"hidden": [{"units": 4, "activation": "leaky_relu"}],
                    "output_activation": "sigmoid"},
        "training": {"loss": "bce", "batch_size": 7, "regularization": "l1",
                     "regularization_rate": 0.003,
                     "optimizer": {"name": "momentum", "nesterov": True, "learning_rate": 0.05}},
    },
    "rmsprop-cce-softmax": {
        "data": {"dataset": "blobs4", "n_samples": 80, "features": ["x1", "x2", "x1_x2"]},
        "network": {"hidden": [{"units": 6, "activation": "sigmoid"}],
                    "output_activation": "softmax"},
        "training": {"loss": "cce", "batch_size": 9,
                     "optimizer": {"name": "rmsprop", "learning_rate": 0.01}},
    },
    "float32-fresh": {
        "data": {"dataset": "xor", "n_samples": 60},
        "network": {"dtype": "float32"},
    },
}
STEPS_BEFORE, STEPS_AFTER = 3, 6  # the scripts' steps cross an epoch boundary in every case

# Runs each script as __main__ with its own argv, in one interpreter.
DRIVER = """
import runpy, sys
for script, out, steps in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    sys.argv = [script, "--steps", steps, "--save", out]
    with open(out + ".log", "w") as log:
        stdout, sys.stdout = sys.stdout, log
        try:
            runpy.run_path(script, run_name="__main__")
        finally:
            sys.stdout = stdout
"""


def _trainer(case: str):
    trainer = ps.make_trainer(CASES[case])
    if not case.endswith("fresh"):
        trainer.train(STEPS_BEFORE)
    return trainer


def _run_all(folder, language: str) -> dict[str, tuple[dict, list[float]]]:
    args = []
    for case in CASES:
        script = folder / f"{case}-{language}.py"
        script.write_text(export_code(_trainer(case), language))
        args += [str(script), str(folder / f"{case}-{language}.npz"), str(STEPS_AFTER)]
    result = subprocess.run([sys.executable, "-I", "-c", DRIVER, *args], cwd=folder,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    results = {}
    for case in CASES:
        out = folder / f"{case}-{language}.npz"
        log = (folder / f"{case}-{language}.npz.log").read_text()
        losses = [float(line.rsplit(" ", 1)[1]) for line in log.splitlines()]
        with np.load(out) as saved:
            results[case] = dict(saved), losses
    return results


@pytest.fixture(scope="module")
def numpy_runs(tmp_path_factory):
    return _run_all(tmp_path_factory.mktemp("numpy"), "numpy")


@pytest.fixture(scope="module")
def torch_runs(tmp_path_factory):
    pytest.importorskip("torch")
    return _run_all(tmp_path_factory.mktemp("torch"), "pytorch")


def _engine_next_steps(case: str):
    trainer = _trainer(case)
    records = [trainer.step() for _ in range(STEPS_AFTER)]
    assert trainer.epoch >= 1  # the continuation crossed into a new epoch
    return trainer, records


@pytest.mark.parametrize("case", [c for c in CASES if "float32" not in c])
def test_numpy_script_continues_bit_for_bit(numpy_runs, case):
    saved, losses = numpy_runs[case]
    trainer, records = _engine_next_steps(case)
    assert losses == [r.total_loss for r in records]
    for k, layer in enumerate(trainer.network.layers):
        np.testing.assert_array_equal(saved[f"gW{k}"], records[-1].layers[k].weight_grad)
        np.testing.assert_array_equal(saved[f"gb{k}"], records[-1].layers[k].bias_grad)
        np.testing.assert_array_equal(saved[f"W{k}"], layer.weight)
        np.testing.assert_array_equal(saved[f"b{k}"], layer.bias)


@pytest.mark.torch
@pytest.mark.parametrize("case", [c for c in CASES if "float32" not in c])
def test_pytorch_script_gradients_and_steps_equal_the_engines(torch_runs, case):
    saved, losses = torch_runs[case]
    trainer, records = _engine_next_steps(case)
    np.testing.assert_allclose(losses, [r.total_loss for r in records], rtol=1e-12)
    for k, layer in enumerate(trainer.network.layers):
        last = records[-1].layers[k]
        np.testing.assert_allclose(saved[f"gW{k}"], last.weight_grad, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(saved[f"gb{k}"], last.bias_grad, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(saved[f"W{k}"], layer.weight, rtol=1e-10, atol=1e-14)


@pytest.mark.torch
def test_a_fresh_float32_network_continues_in_float32(numpy_runs, torch_runs):
    trainer, records = _engine_next_steps("float32-fresh")
    for saved, _ in (numpy_runs["float32-fresh"], torch_runs["float32-fresh"]):
        assert saved["gW0"].dtype == np.float32
        np.testing.assert_allclose(saved["gW0"], records[-1].layers[0].weight_grad,
                                   rtol=1e-4, atol=1e-6)


def test_scripts_import_nothing_from_propscope():
    trainer = ps.make_trainer()
    for language in ("numpy", "pytorch"):
        modules = set()
        for node in ast.walk(ast.parse(export_code(trainer, language))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                modules.add(node.module.split(".")[0])
        expected = {"argparse", "numpy"} | ({"torch"} if language == "pytorch" else set())
        assert modules == expected


def test_an_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="numpy, pytorch"):
        export_code(ps.make_trainer(), "julia")
