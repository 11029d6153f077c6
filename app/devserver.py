"""Run a real ``python -m app serve`` process on a free port and wait until it answers.

The live tests, the browser tests and the benchmarks all need the same thing: the server as a
user starts it (its own process, real uvicorn, real sockets), on a port nobody else holds, and
only once it is ready. It lives in the app, not the test tree, because ``bench/`` uses it too;
so it imports nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]

Log = str | os.PathLike[str] | IO[bytes] | IO[str] | None


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out and released: free now, so (almost surely) free for the
    server a moment later; asking the OS avoids clashes between parallel runs."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class DevServer:
    """A started server: its process and where to reach it."""

    proc: subprocess.Popen
    host: str
    port: int

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"


@contextlib.contextmanager
def running_server(
    *args: str,
    env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    log: Log = None,
    timeout: float = 20.0,
    log_level: str = "warning",
    port: int | None = None,
) -> Iterator[DevServer]:
    """Start ``python -m app serve`` (extra CLI flags in ``args``, extra variables in ``env``)
    and yield it once ``GET /api/health`` answers 200; stop it on exit. Without a database
    in ``env`` (``PROPSCOPE_DB``) it gets a new one in a temporary folder.

    Output (stdout and stderr) goes to ``log``, a path or an open file; without one it is kept
    in a temporary file, not a pipe: nobody reads a pipe while the server runs, and a full one
    would block it. If the process exits or ``timeout`` passes first, RuntimeError carries the
    output so a broken start explains itself.
    """
    port = free_port(host) if port is None else port  # a given port: a restart in place
    command = [sys.executable, "-m", "app", "serve", "--host", host, "--port", str(port),
               "--log-level", log_level, *args]
    with contextlib.ExitStack() as stack:
        if log is None:
            out: IO = stack.enter_context(tempfile.TemporaryFile())
        elif isinstance(log, (str, os.PathLike)):
            out = stack.enter_context(open(log, "wb"))  # noqa: SIM115 - closed by the stack
        else:
            out = log
        full_env = {**os.environ, **(env or {})}
        if not (full_env.get("PROPSCOPE_DB") or full_env.get("PROPSCOPE_DB_PATH")):
            # a database of its own: experiments and kept classrooms of one server never
            # reach the next (nor the working directory's propscope.db)
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="propscope-dev-"))
            full_env["PROPSCOPE_DB"] = str(Path(folder) / "propscope.db")
        proc = subprocess.Popen(command, cwd=ROOT, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT)
        server = DevServer(proc, host, port)
        try:
            _wait_until_healthy(server, timeout, lambda: _output(out, log))
            yield server
        finally:
            _stop(proc)


def _wait_until_healthy(
    server: DevServer, timeout: float, output: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited with {server.proc.returncode}:\n{output()}")
        try:
            with urllib.request.urlopen(server.base + "/api/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:  # not listening yet (URLError, reset, HTTP error are all OSErrors)
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer /api/health within {timeout:g} s:\n"
                               f"{output()}")
        time.sleep(0.05)


def _output(out: IO, log: Log) -> str:
    """What the server printed so far, for an error message."""
    if isinstance(log, (str, os.PathLike)):
        return Path(log).read_text(errors="replace")
    if log is None:
        out.seek(0)
        return out.read().decode(errors="replace")
    return f"(output in {getattr(log, 'name', log)})"


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (a graceful shutdown closes the WebSockets), then SIGKILL if it hangs."""
    proc.terminate()  # a no-op if the process already exited
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
