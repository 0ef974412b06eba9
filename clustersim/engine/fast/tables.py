"""Column layouts of the kernel's state tables, each derived from one list of names.

``columns("node_i", "N", "holds role slot")`` numbers the names in order and returns their int64
column indices and the table's width, so no column is numbered by hand: adding, removing or reordering a
name renumbers the rest, and unpacking the result into fewer or more constants fails at import.
Every layout is registered in ``LAYOUTS`` (table -> constant prefix, index of each name), and a
test holds each constant ``<prefix>_<NAME>`` of the kernel to its registered index. A name written ``name:width``
takes ``width`` consecutive columns (a level block, a group of lists); its constant is the first.
"""
from __future__ import annotations

import numpy as np

LAYOUTS: dict[str, tuple[str, dict[str, int]]] = {}


def columns(table: str, prefix: str, names: str, start: int = 0) -> tuple[tuple[np.int64, ...], np.int64]:
    """(the int64 index of each name, in order; the width: ``start`` + their columns) of ``table``."""
    indices: list[np.int64] = []
    layout: dict[str, int] = {}
    at = start
    for token in names.split():
        name, _, width = token.partition(":")
        layout[name] = at
        indices.append(np.int64(at))
        at += int(width or 1)
    if table in LAYOUTS:
        raise ValueError(f"layout {table!r} defined twice")
    LAYOUTS[table] = (prefix, layout)
    return tuple(indices), np.int64(at)
