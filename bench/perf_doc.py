"""docs/performance.md is written by the benchmarks: each owns one section between its markers,
``<!-- bench:NAME -->`` … ``<!-- /bench:NAME -->``, and rewrites only that; the rest of the
document (prose, other benchmarks' sections) is left as it is."""

from __future__ import annotations

from pathlib import Path

PERF_DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def replace_section(document: str, name: str, body: str, heading: str = "") -> str:
    """The document with ``body`` between the markers of ``name``; a section not there yet is
    added at the end, under ``## heading`` when one is given."""
    start, end = markers(name)
    section = f"{start}\n{body.strip(chr(10))}\n{end}"
    i, j = document.find(start), document.find(end)
    if i != -1 and j > i:
        return document[:i] + section + document[j + len(end):]
    title = f"## {heading}\n\n" if heading else ""
    return document.rstrip("\n") + "\n\n" + title + section + "\n"


def write_section(name: str, body: str, heading: str = "", path: Path = PERF_DOC) -> None:
    document = path.read_text() if path.exists() else "# Performance\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(document, name, body, heading))
