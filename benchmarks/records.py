"""How a benchmark's result reaches docs/benchmarks.md: one Markdown section, printed, and
appended with `--write`."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def publish(title: str, about: str, table: list, write: bool) -> str:
    """Print a section (its title dated, the machine named, `about`, then the table's lines)
    and append it to docs/benchmarks.md when `write`."""
    text = (f"\n## {title} ({time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores)\n\n{about}\n\n" + "\n".join(table) + "\n")
    print(text)
    if write:
        with DOC.open("a") as doc:
            doc.write(text)
    return text
