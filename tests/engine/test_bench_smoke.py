"""The engine benchmark still runs (a smoke test: tiny repetition counts, no timing assertions)."""

import importlib.util
import math
import sys
from pathlib import Path

from bench.perf_doc import markers, replace_section

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engine.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_engine_benchmark_measures_every_network_and_renders_its_table():
    bench = load_bench()
    results = bench.measure(repeats=3, warmup=1, n_samples=256)
    assert [r.network.name for r in results] == [net.name for net in bench.NETWORKS]
    for r in results:
        assert r.engine_us > 0 and r.bare_us > 0
        assert r.torch_us is None or r.torch_us > 0
    table = bench.render(results)
    assert all(f"| {net.name} |" in table for net in bench.NETWORKS)
    document = replace_section("# Performance\n\nintro\n", "engine", table, "Engine step")
    assert document.startswith("# Performance\n\nintro\n\n## Engine step\n\n")
    begin, end = markers("engine")
    assert document.count(begin) == 1 and document.count(end) == 1
    again = replace_section(document + "\n## Other\nkept\n", "engine", "new table")
    assert table not in again and "new table" in again and again.endswith("## Other\nkept\n")
    assert math.isfinite(results[0].overhead)


def test_the_cnn_and_rnn_benchmark_runs_the_same_networks_in_torch():
    bench = load_bench()
    results = bench.measure_families(repeats=3, warmup=1)
    assert len(results) == len(bench.FAMILY_NETWORKS) == 3
    for r in results:
        assert r.recorded_us > 0 and r.lean_us > 0
        assert r.torch_us is None or r.torch_us > 0
    table = bench.render_families(results)
    assert all(f"| {net.name} |" in table for net in bench.FAMILY_NETWORKS)


def test_the_torch_twins_of_the_cnn_and_rnn_compute_the_engines_loss():
    """Same weights, same rows: the PyTorch twin the benchmark times is the engine's network."""
    import numpy as np
    import pytest

    pytest.importorskip("torch")
    bench = load_bench()
    from engine.spec import Spec
    from engine.trainer import Trainer

    twins = (bench.torch_cnn_step, bench.torch_rnn_step, bench.torch_rnn_step)
    for net, make in zip(bench.FAMILY_NETWORKS, twins, strict=True):
        trainer = Trainer(Spec.from_dict(net.spec))
        twin = make(trainer)
        rows = np.arange(24)
        assert twin.loss_at(rows) == pytest.approx(trainer.samples_loss(rows), rel=1e-12)


def test_the_evolution_benchmark_times_a_generation_against_fifty_forward_passes():
    path = BENCH.parent / "evolution.py"
    spec = importlib.util.spec_from_file_location("bench_evolution", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    result = bench.measure(repeats=10, warmup=1)
    assert result.samples == 200
    assert min(result.generation_us, result.predicts_us, result.one_by_one_us) > 0
    assert math.isfinite(result.ratio)
    assert "generation / 50 forward passes" in bench.render(result)
