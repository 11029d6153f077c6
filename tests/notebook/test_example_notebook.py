"""docs/notebook.ipynb runs top to bottom in a real Jupyter kernel, and its figures are there."""

import ast
import base64
import io
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def executed():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    return notebook


def _code(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_the_example_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.outputs for cell in _code(notebook))


def test_every_cell_runs_without_error(executed):
    errors = [o for cell in _code(executed) for o in cell.outputs if o.output_type == "error"]
    assert errors == []


def test_each_figure_cell_displays_a_plotly_figure_with_data(executed):
    figure_cells = [c for c in _code(executed) if "figure(" in c.source or "_table(" in c.source]
    assert len(figure_cells) >= 8
    for cell in figure_cells:
        shown = ("execute_result", "display_data")
        bundles = [o.data for o in cell.outputs if o.output_type in shown]
        assert bundles and PLOTLY in bundles[-1], cell.source
        figure = bundles[-1][PLOTLY]
        if isinstance(figure, str):
            figure = json.loads(figure)
        assert figure["data"], cell.source


def test_the_training_cell_reports_the_steps_it_ran(executed):
    cell = next(c for c in _code(executed) if "ps.fit(trainer, 600" in c.source)
    printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert "steps: 601" in printed  # the one step before plus 600


def test_the_exported_script_in_the_notebook_continues_like_the_engine(executed):
    cell = next(c for c in _code(executed) if "export_code(trainer" in c.source)
    printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    script = [float(line.rsplit(" ", 1)[1]) for line in printed.splitlines()
              if line.startswith("step ")]
    engine = ast.literal_eval(printed.split("the engine's next losses:", 1)[1].strip())
    assert len(script) == 3
    assert script == pytest.approx(engine, rel=1e-12)


def test_the_animation_cell_shows_the_gif_it_wrote(executed):
    cell = next(c for c in _code(executed) if "ps.animate(" in c.source)
    bundles = [o.data for o in cell.outputs if o.output_type == "execute_result"]
    assert bundles and "image/gif" in bundles[-1]
    gif = base64.b64decode(bundles[-1]["image/gif"])
    with Image.open(io.BytesIO(gif)) as image:
        assert image.size == (640, 360) and image.n_frames == 8  # the phases of one step
