"""Layer 5: tables, plots (matplotlib), plain-words statements and the Markdown/HTML report."""

from hiermeta.report.plots import forest, posterior_plot, sensitivity_plot, tau_plot
from hiermeta.report.statements import probability_statements
from hiermeta.report.writer import write_report

__all__ = [
    "forest",
    "posterior_plot",
    "probability_statements",
    "sensitivity_plot",
    "tau_plot",
    "write_report",
]
