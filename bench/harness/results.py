"""Results files: their heading, number formats, tables, and writing them.

Every results file opens with its title and the command that reproduces it, so every
figure in it has its command beside it.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
RESULTS = BENCH / "results"
RAW = RESULTS / "raw"  # scratch output: logs, quick runs (ignored by git)


def heading(title: str, command: str) -> list[str]:
    """The opening lines of every results file: its title and the command behind it."""
    return [f"# {title}", "", "Reproduce with:", "", "```", command, "```", ""]


def machine() -> str:
    """The CPUs this process may use, the OS and Python: one line for a results file."""
    return (
        f"{len(os.sched_getaffinity(0))} CPUs, {platform.system()} {platform.release()},"
        f" Python {platform.python_version()}"
    )


def fmt_s(seconds: float) -> str:
    """Seconds in the unit that suits them: ``1.23 s``, ``45.6 ms``, ``789 µs``."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def spread(values: Sequence[float]) -> str:
    return f"{fmt_s(min(values))} - {fmt_s(max(values))}"


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def write_results(path: Path, text: str, *, echo: bool = True) -> None:
    """Write a results file (creating its directory), and print it unless told not to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if echo:
        print(text)
    print(f"wrote {path}")


def split_sections(text: str) -> tuple[str, dict[str, str]]:
    """A markdown text's preamble, and its ``## `` sections by heading line."""
    preamble, *parts = text.split("\n## ")
    sections = {}
    for part in parts:
        title = "## " + part.split("\n", 1)[0]
        sections[title] = "## " + part
    return preamble, sections


def merge_sections(old: str, new_sections: dict[str, str]) -> str:
    """``old`` with the sections named in ``new_sections`` replaced (or appended)."""
    preamble, sections = split_sections(old)
    merged = {**sections, **new_sections}
    return "\n\n".join([preamble.rstrip("\n"), *(s.rstrip("\n") for s in merged.values())]) + "\n"
