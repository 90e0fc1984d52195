"""Layer 5: plain-words statements and the Markdown/HTML/JSON report; the plots (drawn from the
result contract, in :mod:`hiermeta.results.plots`) are re-exported here."""

from hiermeta.pipeline.report.statements import probability_statements
from hiermeta.pipeline.report.writer import build_summary, write_index, write_report
from hiermeta.results.plots import (
    baujat_plot,
    bubble_plot,
    cumulative_plot,
    forest,
    funnel_plot,
    gosh_plot,
    leave_one_out_plot,
    posterior_plot,
    sensitivity_plot,
    tau_plot,
    trajectory_plot,
)

__all__ = [
    "baujat_plot",
    "bubble_plot",
    "build_summary",
    "cumulative_plot",
    "forest",
    "funnel_plot",
    "gosh_plot",
    "leave_one_out_plot",
    "posterior_plot",
    "probability_statements",
    "sensitivity_plot",
    "tau_plot",
    "trajectory_plot",
    "write_index",
    "write_report",
]
