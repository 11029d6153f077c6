"""Exported scripts rebuild the network and continue training as the engine does.

Dense stacks and networks of convolution, pooling, flatten, RNN and LSTM layers alike: every
parameter of every layer is compared, under its short name (W, b, K, W_ih, W_hh + layer index).

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
from propscope.code_export_layers import SHORT_NAMES

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
    # 8×8 → conv same (3) → maxpool → conv padding 1 (2) → overlapping avgpool → flatten 32 → dense
    "cnn-shapes-adam-l2-dropout": {
        "data": {"dataset": "shapes", "n_samples": 60},
        "network": {"layers": [
            {"type": "conv2d", "filters": 3, "kernel": 3, "padding": "same", "activation": "relu"},
            {"type": "maxpool", "size": 2},
            {"type": "conv2d", "filters": 2, "kernel": 2, "padding": 1, "activation": "tanh"},
            {"type": "avgpool", "size": 2, "stride": 1},
            {"type": "flatten"},
            {"type": "dense", "units": 5, "activation": "tanh", "dropout": 0.2},
        ], "output_activation": "softmax"},
        "training": {"loss": "cce", "batch_size": 8, "regularization": "l2",
                     "regularization_rate": 0.01,
                     "optimizer": {"name": "adam", "learning_rate": 0.01}},
    },
    # stride 2 with "same" padding pads one side only; max windows overlap (stride 1)
    "cnn-digits-strided-nesterov-l1": {
        "data": {"dataset": "digits", "n_samples": 60},
        "network": {"layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same",
             "activation": "leaky_relu"},
            {"type": "maxpool", "size": 2, "stride": 1},
            {"type": "flatten"},
        ], "output_activation": "softmax"},
        "training": {"loss": "cce", "batch_size": 8, "regularization": "l1",
                     "regularization_rate": 0.002,
                     "optimizer": {"name": "momentum", "nesterov": True, "learning_rate": 0.05}},
    },
    # many-to-many: a time-distributed dense layer, then an Elman RNN truncated at 3 steps
    "rnn-sine-truncated-sgd": {
        "data": {"dataset": "sine_next", "n_samples": 60},
        "network": {"layers": [{"type": "dense", "units": 3, "activation": "tanh"},
                               {"type": "rnn", "units": 5, "truncation": 3}]},
        "training": {"batch_size": 8, "optimizer": {"name": "sgd", "learning_rate": 0.1}},
    },
    # many-to-one, an activation nn.RNN does not have (the script's own Elman cell), full BPTT
    "rnn-recall-leaky-bce-l2": {
        "data": {"dataset": "recall", "n_samples": 60},
        "network": {"layers": [{"type": "rnn", "units": 6, "activation": "leaky_relu"}],
                    "output_activation": "sigmoid"},
        "training": {"loss": "bce", "batch_size": 8, "regularization": "l2",
                     "regularization_rate": 0.01,
                     "optimizer": {"name": "momentum", "learning_rate": 0.05}},
    },
    "lstm-recall-truncated-rmsprop": {
        "data": {"dataset": "recall", "n_samples": 60},
        "network": {"layers": [{"type": "lstm", "units": 4, "truncation": 4}],
                    "output_activation": "softmax"},
        "training": {"loss": "cce", "batch_size": 8,
                     "optimizer": {"name": "rmsprop", "learning_rate": 0.01}},
    },
    "lstm-sine-adam-l1": {
        "data": {"dataset": "sine_next", "n_samples": 60},
        "network": {"layers": [{"type": "lstm", "units": 3}]},
        "training": {"batch_size": 8, "regularization": "l1", "regularization_rate": 0.001,
                     "optimizer": {"name": "adam", "learning_rate": 0.01}},
    },
    "float32-fresh": {
        "data": {"dataset": "xor", "n_samples": 60},
        "network": {"dtype": "float32"},
    },
    "float32-fresh-lstm": {
        "data": {"dataset": "sine_next", "n_samples": 60},
        "network": {"dtype": "float32", "layers": [{"type": "lstm", "units": 3}]},
        "training": {"batch_size": 8},
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
    if "fresh" not in case:
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


def _parameters(trainer, record):
    """(short name, parameter now, last step's gradient) of every parameter of every layer."""
    out = []
    for k, layout in enumerate(trainer.network.layouts):
        for name, value in layout.views(trainer.network.flat).items():
            grad = getattr(record.layers[k], f"{name}_grad")
            out.append((f"{SHORT_NAMES[name]}{k}", value, grad))
    return out


TRAINED = [c for c in CASES if "float32" not in c]


def test_the_cases_cover_every_layer_kind():
    kinds = {kind for case in CASES for kind in ps.make_trainer(CASES[case]).network.kinds}
    assert kinds == {"dense", "conv2d", "maxpool", "avgpool", "flatten", "rnn", "lstm"}


@pytest.mark.parametrize("case", TRAINED)
def test_numpy_script_continues_bit_for_bit(numpy_runs, case):
    saved, losses = numpy_runs[case]
    trainer, records = _engine_next_steps(case)
    assert losses == [r.total_loss for r in records]
    params = _parameters(trainer, records[-1])
    assert sorted(key for key, _, _ in params) == sorted(k for k in saved if not k.startswith("g"))
    for key, value, grad in params:
        np.testing.assert_array_equal(saved[f"g{key}"], grad, err_msg=key)
        np.testing.assert_array_equal(saved[key], value, err_msg=key)


@pytest.mark.torch
@pytest.mark.parametrize("case", TRAINED)
def test_pytorch_script_gradients_and_steps_equal_the_engines(torch_runs, case):
    saved, losses = torch_runs[case]
    trainer, records = _engine_next_steps(case)
    np.testing.assert_allclose(losses, [r.total_loss for r in records], rtol=1e-12)
    for key, value, grad in _parameters(trainer, records[-1]):
        assert np.abs(grad).max() > 0, key  # a gradient that reaches every parameter
        np.testing.assert_allclose(saved[f"g{key}"], grad, rtol=1e-9, atol=1e-14, err_msg=key)
        np.testing.assert_allclose(saved[key], value, rtol=1e-10, atol=1e-14, err_msg=key)


@pytest.mark.torch
@pytest.mark.parametrize("case", ["float32-fresh", "float32-fresh-lstm"])
def test_a_fresh_float32_network_continues_in_float32(numpy_runs, torch_runs, case):
    trainer, records = _engine_next_steps(case)
    for saved, _ in (numpy_runs[case], torch_runs[case]):
        for key, _, grad in _parameters(trainer, records[-1]):
            assert saved[f"g{key}"].dtype == np.float32
            np.testing.assert_allclose(saved[f"g{key}"], grad, rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("case", [None, "cnn-shapes-adam-l2-dropout", "lstm-sine-adam-l1"])
def test_scripts_import_nothing_from_propscope(case):
    trainer = ps.make_trainer(CASES[case] if case else None)
    for language in ("numpy", "pytorch"):
        modules = set()
        for node in ast.walk(ast.parse(export_code(trainer, language))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                modules.add(node.module.split(".")[0])
        expected = {"argparse", "numpy"} | ({"torch"} if language == "pytorch" else set())
        if case and language == "numpy":
            expected.add("math")
        assert modules == expected


def test_a_layered_script_names_its_layers_and_holds_the_kernels():
    trainer = ps.make_trainer(CASES["cnn-shapes-adam-l2-dropout"])
    script = export_code(trainer, "pytorch")
    assert ("conv2d 3×3×3 relu → maxpool 2 → conv2d 2×2×2 tanh → avgpool 2 stride 1 → flatten "
            "→ dense 5 tanh → dense 3 softmax") in script
    namespace: dict = {}
    constants = script[script.index("DTYPE = "):script.index("TORCH_DTYPE")]
    exec(constants, {"np": np}, namespace)
    kernel = trainer.network.layers[0].kernel
    np.testing.assert_array_equal(namespace["PARAMETERS"][0]["kernel"], kernel)
    assert namespace["LAYERS"][2]["pads"] == [1, 1, 1, 1]
    assert namespace["X"].shape == trainer.problem.x_train.shape == (30, 1, 8, 8)


def test_an_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="numpy, pytorch"):
        export_code(ps.make_trainer(), "julia")
