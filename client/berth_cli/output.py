"""Answers as a person reads them (aligned tables) or as a script reads them (JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return ",".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return " ".join(":".join(map(str, v)) if isinstance(v, list) else cell(v) for v in value)
    return str(value)


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> None:
    """Columns as wide as their widest cell; numbers right-aligned."""
    text = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    numeric = [
        bool(text)
        and all(r[i].replace(".", "", 1).lstrip("-").isdigit() or r[i] == "-" for r in text)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric)]
        return "  ".join(parts).rstrip()

    click.echo(line([h.upper() for h in headers]))
    for row in text:
        click.echo(line(row))


def pairs(items: Iterable[tuple[str, Any]]) -> None:
    """A record as `key: value` lines."""
    items = list(items)
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        click.echo(f"{key.ljust(width)}  {cell(value)}")
