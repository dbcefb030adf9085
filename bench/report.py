"""Writing a bench's figures into docs/benchmarks.md: each bench owns one marked section."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
DOC_HEADER = (
    "# Benchmarks\n\n"
    "Figures written by the scripts under `bench/`; each script owns the section between its\n"
    "`<!-- bench:NAME -->` markers and rewrites only that section when it runs.\n"
)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def write_section(name: str, text: str) -> None:
    """Replace the bench's section (``text`` includes its markers), or append it."""
    start_marker, end_marker = markers(name)
    current = DOC.read_text() if DOC.exists() else DOC_HEADER
    start, end = current.find(start_marker), current.find(end_marker)
    if start >= 0 and end > start:
        updated = current[:start] + text + current[end + len(end_marker) :]
    else:
        updated = current.rstrip("\n") + "\n\n" + text + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(updated)
