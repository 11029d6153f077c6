"""Load a user's CSV file as a :class:`~engine.datasets.Dataset`.

Uploaded files are often hand-made or exported from a spreadsheet, so every problem is reported
as a :class:`CSVDataError` naming the line and column to fix, instead of surfacing as a NumPy
error (or, worse, silently training on NaNs). Line numbers are the file's physical lines, so the
header is line 1 and the first data row is line 2.

Accepted format: a header row of unique column names, then one row per sample. Values are
separated by commas; a semicolon (with decimal commas, as European spreadsheets export) or a tab
is used instead when the header clearly uses it. Blank lines are skipped and whitespace around
values is ignored.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.datasets import Dataset, DatasetInfo, shuffle_split

TASKS = ("classification", "regression")
MIN_ROWS = 4
MAX_CLASSES = 20
# An integer-valued target with at most this many distinct values is taken to be class labels.
MAX_INFERRED_CLASSES = 10


class CSVDataError(ValueError):
    """A problem in the uploaded file, located precisely enough for the user to fix it."""

    def __init__(self, reason: str, *, row: int | None = None, column: str | None = None):
        self.reason = reason
        self.row = row
        self.column = column
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One readable sentence, e.g. ``line 7, column "price": "abc" is not a number``."""
        place = []
        if self.row is not None:
            place.append(f"line {self.row}")
        if self.column is not None:
            place.append(f'column "{self.column}"')
        return f"{', '.join(place)}: {self.reason}" if place else self.reason

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict:
        """JSON-ready form, so an API can highlight the offending cell."""
        return {
            "row": self.row,
            "column": self.column,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass
class _Table:
    """The file's text cells, checked for shape but not yet for content."""

    columns: list[str]
    rows: list[list[str]]
    lines: list[int]  # the file line of each row, for error messages
    decimal_comma: bool


# ---------------------------------------------------------------------------------------------
# Structure: header, separator and rows


def _pick_separator(header_line: str) -> str:
    """Comma unless the header uses semicolons or tabs more often than commas."""
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def _first_line(text: str) -> str:
    return next((line for line in text.split("\n") if line.strip()), "")


def _is_blank(cells: list[str]) -> bool:
    return all(cell == "" for cell in cells)


def _check_header(columns: list[str], line: int, max_columns: int, decimal_comma: bool) -> None:
    if len(columns) > max_columns:
        raise CSVDataError(
            f"the file has {len(columns)} columns; at most {max_columns} are allowed", row=line
        )
    for position, name in enumerate(columns, start=1):
        if name == "":
            raise CSVDataError(f"column {position} has no name in the header", row=line)
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise CSVDataError("this column name appears more than once", row=line, column=name)
        seen.add(name)
    if all(_parse_number(name, decimal_comma) is not None for name in columns):
        raise CSVDataError(
            "the first line must be a header naming the columns, but it holds only numbers",
            row=line,
        )


def _read_table(text: str, *, max_columns: int, max_rows: int | None) -> _Table:
    """Split the text into a header and equally long rows, or say exactly where it breaks."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise CSVDataError("the file is empty")
    separator = _pick_separator(_first_line(text))
    decimal_comma = separator == ";"
    reader = csv.reader(io.StringIO(text), delimiter=separator, skipinitialspace=True)
    columns: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for raw in reader:
            cells = [cell.strip() for cell in raw]
            if _is_blank(cells):
                continue
            if columns is None:
                columns = cells
                _check_header(columns, reader.line_num, max_columns, decimal_comma)
                continue
            if len(cells) != len(columns):
                raise CSVDataError(
                    f"expected {len(columns)} values (one per column), found {len(cells)}",
                    row=reader.line_num,
                )
            if max_rows is not None and len(rows) == max_rows:
                raise CSVDataError(
                    f"the file has more than {max_rows} data rows", row=reader.line_num
                )
            rows.append(cells)
            lines.append(reader.line_num)
    except csv.Error as error:
        raise CSVDataError(f"cannot be read as CSV ({error})", row=reader.line_num) from error
    if columns is None:
        raise CSVDataError("the file holds no values, only separators")
    return _Table(columns, rows, lines, decimal_comma)


# ---------------------------------------------------------------------------------------------
# Content: numbers, targets and tasks


def _parse_number(cell: str, decimal_comma: bool) -> float | None:
    """The cell's value, or None if it is not written as a number (NaN and inf do parse)."""
    try:
        return float(cell.replace(",", ".") if decimal_comma else cell)
    except ValueError:
        return None


def _numeric_cell(cell: str, decimal_comma: bool, line: int, column: str) -> float:
    if cell == "":
        raise CSVDataError("the cell is empty", row=line, column=column)
    value = _parse_number(cell, decimal_comma)
    if value is None:
        raise CSVDataError(f'"{cell}" is not a number', row=line, column=column)
    if not math.isfinite(value):
        raise CSVDataError(f'"{cell}" is not a finite number', row=line, column=column)
    return value


def _resolve_features(columns: list[str], target: str, features: Sequence[str] | None) -> list[str]:
    """Check the chosen columns exist; by default every column but the target is an input."""
    if isinstance(features, str):
        raise TypeError(f"features must be a list of column names, not the string {features!r}")
    available = ", ".join(f'"{name}"' for name in columns)
    if target not in columns:
        raise CSVDataError(f"no such column in the file (columns: {available})", column=target)
    chosen = [name for name in columns if name != target] if features is None else list(features)
    if not chosen:
        raise CSVDataError("choose at least one input column besides the target")
    for name in chosen:
        if name not in columns:
            raise CSVDataError(f"no such column in the file (columns: {available})", column=name)
        if name == target:
            raise CSVDataError("the target column cannot also be an input", column=name)
        if chosen.count(name) > 1:
            raise CSVDataError("this input column is chosen more than once", column=name)
    return chosen


def _read_cells(table: _Table, features: list[str], target: str) -> tuple[np.ndarray, list[str]]:
    """Inputs as a float matrix and target cells as text, checked row by row in file order."""
    used = [i for i, name in enumerate(table.columns) if name in features or name == target]
    input_position = {name: k for k, name in enumerate(features)}
    x = np.empty((len(table.rows), len(features)), dtype=np.float64)
    target_cells: list[str] = []
    for r, (cells, line) in enumerate(zip(table.rows, table.lines, strict=True)):
        for i in used:
            name, cell = table.columns[i], cells[i]
            if name == target:
                if cell == "":
                    raise CSVDataError("the cell is empty", row=line, column=name)
                target_cells.append(cell)
            else:
                x[r, input_position[name]] = _numeric_cell(cell, table.decimal_comma, line, name)
    return x, target_cells


def _numeric_target(
    cells: list[str], lines: list[int], target: str, decimal_comma: bool, task: str | None
) -> np.ndarray | None:
    """Target values as floats, or None when they are text labels (allowed for classification).

    A mostly numeric column with a stray word is a typo, not a set of class names, so that word
    is reported unless the caller asked for classification.
    """
    values = [_parse_number(cell, decimal_comma) for cell in cells]
    text_rows = [k for k, value in enumerate(values) if value is None]
    all_text = len(text_rows) == len(values)
    if text_rows and (task == "classification" or (task is None and all_text)):
        return None
    pairs = zip(cells, lines, strict=True)
    return np.array([_numeric_cell(cell, decimal_comma, line, target) for cell, line in pairs])


def _infer_task(numbers: np.ndarray | None) -> str:
    if numbers is None:
        return "classification"
    is_integer = bool(np.all(numbers == np.round(numbers)))
    few = len(np.unique(numbers)) <= MAX_INFERRED_CLASSES
    return "classification" if is_integer and few else "regression"


def _format_number(value: float) -> str:
    """Integers without a trailing '.0', so numeric class names read as they were written."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _class_labels(
    cells: list[str], numbers: np.ndarray | None, target: str
) -> tuple[np.ndarray, list[str]]:
    """Class indices in sorted order of the labels (numeric order for numeric labels)."""
    if numbers is None:
        names = sorted(set(cells))
        index = {name: k for k, name in enumerate(names)}
        y = np.array([index[cell] for cell in cells], dtype=np.int64)
    else:
        values, y = np.unique(numbers, return_inverse=True)
        names = [_format_number(value) for value in values]
    if len(names) < 2:
        raise CSVDataError(
            f'has only one class ("{names[0]}"); a classifier needs at least two', column=target
        )
    if len(names) > MAX_CLASSES:
        raise CSVDataError(
            f"has {len(names)} different values; classification supports at most {MAX_CLASSES} "
            "classes (choose regression for a numeric target)",
            column=target,
        )
    return y.astype(np.int64), names


def _regression_values(numbers: np.ndarray, target: str) -> np.ndarray:
    if np.all(numbers == numbers[0]):
        raise CSVDataError(
            f"every value is {_format_number(numbers[0])}, so there is nothing to predict",
            column=target,
        )
    return numbers[:, None]


def _check_arguments(task: str | None, train_ratio: float) -> None:
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None, got {task!r}")
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must be strictly between 0 and 1, got {train_ratio}")


# ---------------------------------------------------------------------------------------------
# Public entry points


def load_csv(
    text: str,
    *,
    target: str,
    features: Sequence[str] | None = None,
    task: str | None = None,
    train_ratio: float = 0.8,
    seed: int = 0,
    max_rows: int = 10_000,
    max_columns: int = 50,
    name: str = "custom",
) -> Dataset:
    """Parse, validate, shuffle and split a CSV into a dataset.

    ``features`` defaults to every column except ``target``. With ``task`` None the task is
    inferred: text targets and integer targets with at most 10 distinct values are classes,
    anything else is regression. Raises :class:`CSVDataError` for any problem in the file.
    """
    _check_arguments(task, train_ratio)
    table = _read_table(text, max_columns=max_columns, max_rows=max_rows)
    if len(table.rows) < MIN_ROWS:
        raise CSVDataError(f"the file needs at least {MIN_ROWS} data rows, found {len(table.rows)}")
    inputs = _resolve_features(table.columns, target, features)
    x, cells = _read_cells(table, inputs, target)
    numbers = _numeric_target(cells, table.lines, target, table.decimal_comma, task)
    task = task or _infer_task(numbers)
    if task == "classification":
        y, class_names = _class_labels(cells, numbers, target)
    else:
        y, class_names = _regression_values(numbers, target), []
    x_train, y_train, x_test, y_test = shuffle_split(x, y, train_ratio, np.random.default_rng(seed))
    info = DatasetInfo(
        name=name,
        title=name,
        task=task,
        n_classes=len(class_names),
        n_inputs=len(inputs),
        plane=False,
        default_samples=len(x),
        description=f"Uploaded CSV: {len(x)} rows, predicting {target} from {', '.join(inputs)}.",
        input_names=tuple(inputs),
    )
    return Dataset(
        info=info,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        input_names=list(inputs),
        target_name=target,
        class_names=class_names,
        bounds=None,
    )


def preview_csv(text: str, max_rows: int = 5, *, max_columns: int = 50) -> dict:
    """Columns, the first rows (as text) and which columns are numeric, for a column chooser.

    A column counts as numeric when every non-empty cell is a finite number; empty cells are
    left for :func:`load_csv` to report, since the user may not even use that column.
    """
    table = _read_table(text, max_columns=max_columns, max_rows=None)
    numeric = {}
    for i, column in enumerate(table.columns):
        cells = [row[i] for row in table.rows if row[i] != ""]
        values = [_parse_number(cell, table.decimal_comma) for cell in cells]
        numeric[column] = bool(cells) and all(v is not None and math.isfinite(v) for v in values)
    return {
        "columns": list(table.columns),
        "rows": [list(row) for row in table.rows[:max_rows]],
        "n_rows": len(table.rows),
        "numeric": numeric,
    }
