"""The quick-start in docs/engine.md runs as written (so the documentation cannot rot)."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_the_engine_quick_start_runs_and_learns(capsys):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    trainer = namespace["trainer"]
    assert trainer.step_count == 3001
    assert trainer.evaluate().test_accuracy > 0.95
    assert namespace["why"].relative_error < 1e-6
    assert "Forward · layer 1" in capsys.readouterr().out
    assert namespace["cnn"].evaluate().test_accuracy > 0.9
    assert namespace["kernel"].sum_over == "output positions"
    assert namespace["kernel"].relative_error < 1e-6
