"""Checking uploaded files in a process of their own.

``json.loads`` of a large JSON export (up to 32 MiB) holds the interpreter lock for the whole
parse (≈ 0.5 s for 18 MB): in a thread that stalls the event loop, and with it every student's
stream. In a child process it stalls nothing. One worker process, started on first use from a
clean fork server (never forked from the threaded server itself), replaced after a few files so
a parse's memory is given back, and replaced at once if it dies (an upload that kills it gets an
answer; the next upload gets a fresh worker).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from app.export_files import checked_import
from app.security import logfmt

log = logging.getLogger("propscope.files")

FILES_PER_WORKER = 8


class FileWorkerDied(Exception):
    """The worker process ended while it read a file (memory, a signal)."""


class FileWorker:
    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(1, mp_context=context,
                                             max_tasks_per_child=FILES_PER_WORKER)
        return self._pool

    async def check_import(self, data: bytes) -> dict:
        """:func:`app.export_files.checked_import` of `data`, in the worker process."""
        return await self.run(checked_import, data)

    async def run(self, fn, *args):
        """fn(*args) in the worker process (fn and its arguments must pickle)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), fn, *args)
        except BrokenProcessPool:
            log.warning(logfmt("file_worker_died", function=getattr(fn, "__name__", "?")))
            self.close()
            raise FileWorkerDied from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
