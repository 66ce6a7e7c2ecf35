"""Reading the Markdown tables the reports print, for the report tests."""

from __future__ import annotations

import re


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Each pipe table as rows of cells (escaped pipes kept inside cells)."""
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables
