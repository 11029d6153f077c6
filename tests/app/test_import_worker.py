"""A large JSON import is read in a process of its own: the server's event loop keeps answering
while it is parsed (issue 12: "a 1 000 000-row import … stalls the event loop"; json.loads holds
the interpreter lock for the whole parse), and the stored copy opens without parsing it again."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.request

import pytest

from app.devserver import running_server
from app.export_files import checked_import
from app.file_worker import FileWorker, FileWorkerDied
from engine import persistence
from engine.spec import Spec
from engine.trainer import Trainer
from tests.app.live_server import LiveClient

pytestmark = pytest.mark.timeout(180)

WIDE = {"data": {"dataset": "circle"}, "network": {"hidden": [{"units": 352}] * 3},
        "training": {"optimizer": {"name": "adam", "learning_rate": 0.01}}}


@pytest.fixture(scope="module")
def wide_export() -> bytes:
    """A 17 MB JSON export: the widest network a spec allows, with Adam's moments."""
    trainer = Trainer(Spec.from_dict(WIDE))
    trainer.step()
    return persistence.to_json(trainer).encode()


def post(base: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(base + "/api/import", data=body, method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_loop_answers_pings_while_a_large_json_import_is_read(wide_export):
    with running_server() as server:
        post(server.base, b"{}")  # the worker process is started before the measurement
        result = {}

        def upload():
            start = time.monotonic()
            result["reply"] = post(server.base, wide_export)
            result["seconds"] = time.monotonic() - start

        async def pings() -> list[float]:
            client = await LiveClient.connect(server.base)
            waits = []
            thread = threading.Thread(target=upload)
            thread.start()
            while thread.is_alive():
                start = time.monotonic()
                await client.request({"type": "ping"})
                waits.append(time.monotonic() - start)
                await asyncio.sleep(0.01)
            await client.close()
            return waits

        waits = asyncio.run(pings())
    status, reply = result["reply"]
    print(f"import of {len(wide_export) / 1e6:.1f} MB: {result['seconds']:.2f} s; "
          f"{len(waits)} pings, longest {max(waits) * 1000:.0f} ms")
    assert status == 200 and reply["format"] == "json" and reply["step"] == 1
    # in the server's own thread the parse alone (≈ 0.7 s of a ≈ 1.6 s import) stopped every
    # reply; in the worker process no ping waits for more than a fraction of the import
    assert len(waits) >= 10
    assert max(waits) < 0.35 * result["seconds"], (max(waits), result["seconds"])


def test_a_checked_import_is_kept_as_npz_that_restores_the_same_trainer(wide_export):
    checked = checked_import(wide_export)
    assert checked["npz"][:2] == b"PK" and checked["step"] == 1
    original = persistence.from_json(wide_export.decode())
    restored = persistence.from_npz(checked["npz"])
    assert (restored.network.flat == original.network.flat).all()
    assert restored.spec.to_dict() == original.spec.to_dict() == checked["spec"]


def test_a_refused_import_names_its_problem_across_the_process_boundary():
    checked = asyncio.run(_in_worker(b'{"format": "not propscope"}'))
    assert set(checked) == {"problem", "details"} and checked["problem"]


def test_a_worker_that_dies_is_reported_and_the_next_file_gets_a_fresh_one():
    async def scenario():
        worker = FileWorker()
        try:
            first = await worker.check_import(b"{}")
            with pytest.raises(FileWorkerDied):
                await worker.run(os._exit, 1)  # as the kernel's OOM killer would end it
            return first, await worker.check_import(b"{}")
        finally:
            worker.close()

    first, again = asyncio.run(scenario())
    assert "problem" in first and "problem" in again


async def _in_worker(data: bytes) -> dict:
    worker = FileWorker()
    try:
        return await worker.check_import(data)
    finally:
        worker.close()
