"""What every figure shares: a matplotlib Figure on the Agg canvas (no display, no global pyplot state), a
legend kept off the data, axis labels with their unit, and the PNG bytes.

Review size: figures are drawn at 110 dpi, about 7 x 4 inches, so a page of the HTML report shows one at its
natural size and the text stays readable when pasted into a slide.
"""
from __future__ import annotations

import io
from typing import Any

DPI = 110
WIDTH_INCHES, HEIGHT_INCHES = 7.2, 4.2


def new_figure(width: float = WIDTH_INCHES, height: float = HEIGHT_INCHES) -> Any:
    """A Figure with constrained layout on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def legend_below(axes: Any, columns: int = 3, **options: Any) -> None:
    """The axes' legend under the plot area, outside the data (constrained layout makes room for it)."""
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        axes.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=columns,
                    fontsize="small", frameon=False, **options)


def legend_right(axes: Any, **options: Any) -> None:
    """The axes' legend to the right of the plot area, outside the data."""
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                    frameon=False, **options)


def with_unit(label: str, unit: str) -> str:
    """An axis label with its unit in parentheses (none for a plain count-free number)."""
    return f"{label} ({unit})" if unit else label


def png_bytes(figure: Any) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
