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
        assert r.engine_us > 0 and r.lean_us > 0 and r.bare_us > 0
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


def test_the_sweep_times_every_width_and_batch_and_names_its_slowest_cell():
    bench = load_bench()
    cells = bench.measure_sweep(widths=(8, 16), batches=(1, 4), budget_s=0.001)
    assert [(c.width, c.batch) for c in cells] == [(8, 1), (8, 4), (16, 1), (16, 4)]
    assert all(c.lean_us > 0 and c.recorded_us > 0 for c in cells)
    table = bench.render_sweep(cells)
    assert "| 16 |" in table
    if cells[0].torch_us is not None:
        assert "slowest: width" in table


def test_the_playground_network_is_timed_lean_and_recorded_at_both_batches():
    bench = load_bench()
    rows, how = bench.measure_playground(repeats=20, nn_ts=False)
    assert [r.batch for r in rows] == [10, 250]
    assert all(r.lean_us > 0 and r.recorded_us > 0 and r.nn_ts_us is None for r in rows)
    table = bench.render_playground(rows, how)
    assert "| 250 |" in table and "not asked for" in table


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


def test_without_a_fetched_playground_the_nn_ts_reference_says_why(monkeypatch):
    from bench.playground_nn import playground_step_us

    monkeypatch.delenv("PLAYGROUND_SRC", raising=False)
    times, reason = playground_step_us((10,))
    assert times == {}
    assert "PLAYGROUND_SRC" in reason or "Node" in reason
