"""Views of the results table: paper-style tables (LaTeX, Markdown, CSV) and figures."""

from semcom_bench.report.plots import colourise_labels, grid_layout, plot_curves, plot_samples
from semcom_bench.report.tables import FORMATS, latex_document, latex_escape, render, summarise

__all__ = [
    "FORMATS",
    "colourise_labels",
    "grid_layout",
    "latex_document",
    "latex_escape",
    "plot_curves",
    "plot_samples",
    "render",
    "summarise",
]
