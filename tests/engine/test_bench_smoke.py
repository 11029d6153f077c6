"""The engine benchmark still runs (a smoke test: tiny repetition counts, no timing assertions)."""

import importlib.util
import math
import sys
from pathlib import Path

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
    document = bench.replace_section("# Performance\n\nintro\n", table)
    assert document.startswith("# Performance\n\nintro\n")
    assert document.count(bench.BEGIN) == 1 and document.count(bench.END) == 1
    again = bench.replace_section(document + "\n## Other\nkept\n", "new table")
    assert table not in again and "new table" in again and again.endswith("## Other\nkept\n")
    assert math.isfinite(results[0].overhead)
