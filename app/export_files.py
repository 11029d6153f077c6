"""Reading a Propscope export (JSON text or ``.npz`` bytes) into a trainer, every field checked
first (engine/file_checks.py) — a file is untrusted, whoever made it and wherever it was stored —
and the sentence that tells a user what is wrong with one that is refused.

No web imports: :mod:`app.file_worker` runs :func:`checked_import` in a separate process.
"""

from __future__ import annotations

from engine import persistence
from engine.file_checks import FileProblem, check_restored, read_export
from engine.spec import SpecError


def load_trainer(data: bytes):
    """A trainer from an export. Raises ValueError (FileProblem names the field) for anything
    that is not a good export."""
    state = read_export(data)
    try:
        trainer = persistence.from_dict(state)
    except (KeyError, TypeError, IndexError, OverflowError) as err:
        raise ValueError(f"the file does not describe a trainer ({type(err).__name__}: "
                         f"{str(err)[:120]})") from None
    check_restored(trainer, state)
    return trainer


def describe_file_error(err: Exception) -> tuple[str, dict]:
    """(sentence, details) for a refused file: which field, and why."""
    if isinstance(err, FileProblem):
        return f"{err.path}: {err.message}"[:500], {"field": err.path[:200]}
    if isinstance(err, SpecError):
        path, message = err.problems[0]
        return f"spec.{path}: {message}"[:500], {"field": f"spec.{path}"[:200]}
    return str(err)[:500], {}


def checked_import(data: bytes) -> dict:
    """An uploaded export checked whole, as plain data that crosses a process boundary: the
    trainer re-encoded as ``.npz`` (which later opens without parsing JSON again) and what the
    upload's answer names, or the problem (sentence and details) that refuses it."""
    try:
        trainer = load_trainer(data)
    except ValueError as err:
        sentence, details = describe_file_error(err)
        return {"problem": sentence, "details": details}
    return {"npz": persistence.to_npz(trainer), "step": trainer.step_count,
            "spec": trainer.spec.to_dict(), "dataset": trainer.dataset.info.name}
