"""Run a Playwright check in a thread of its own.

Playwright's sync API refuses to start in a thread whose asyncio loop is running, and the e2e
suite's session-scoped browser (tests/e2e/conftest.py) keeps one running in the main thread for
the rest of the run. A fresh thread has no loop, so these tests work alone and in the full suite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def run_apart(check: Callable[..., Any], *args: Any) -> Any:
    """check(*args) in a new thread; its exception (an assertion) is raised here."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = check(*args)
        except BaseException as err:  # re-raised in the test's own thread below
            outcome["error"] = err

    thread = threading.Thread(target=target, name="playwright", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
