"""One presenter, 100 viewers and one viewer that never reads, against a real uvicorn process.

The viewers run in a separate process (bench/room.py), all traffic stays on 127.0.0.1. Phases
alternate (presenter alone, with the viewers, alone, …) so that load from other processes on a
small machine hits both alike, and the drop is the median of the paired ratios; on a noisy
machine (other processes using the 2 cores) the whole measurement is repeated, at most 3 times.
"""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parents[2]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_room", ROOT / "bench" / "room.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOISE = 0.25  # alone phases differing by more: other processes own the CPU, nothing to learn


def test_100_viewers_get_20_fps_and_the_presenter_keeps_90_percent_of_its_speed():
    bench = load_bench()
    server = bench.Server()
    try:
        results = []
        for _ in range(3):
            r = asyncio.run(bench.measure(100, seconds=1.5, server=server, rounds=3))
            results.append(r)
            assert r["failed"] == 0
            assert r["min_fps"] >= 20, r
            if r["drop"] <= 0.10:
                break
    finally:
        server.stop()
    print(results)
    r = results[-1]
    if r["drop"] > 0.10 and all(x["noise"] > NOISE for x in results):
        pytest.skip(f"the machine is too busy to measure a 10 % difference: the presenter's "
                    f"speed alone varied by {min(x['noise'] for x in results):.0%} or more")
    assert r["drop"] <= 0.10, r
