"""clustersim: a discrete-event simulator of AI clusters under failure."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("load_scenario", "run", "sweep", "compare", "chaos")  # clustersim.api's functions, loaded on first use


def __getattr__(name: str) -> Any:
    """``clustersim.load_scenario``, ``run``, ``sweep``, ``compare`` and ``chaos``: the API module's functions,
    imported when first asked for (by name, so the package root depends on nothing at import time)."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module("clustersim.api"), name)
    raise AttributeError(f"module 'clustersim' has no attribute {name!r}")
