"""Write an analysis as report.md, a self-contained report.html, PNG figures, summary.json and
the posterior as NetCDF — into a temporary folder first, moved into place only at the end, so a
failure never leaves a half-written report. ``write_index`` writes the page linking several.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hiermeta._version import __version__
from hiermeta.pipeline.report import sections
from hiermeta.pipeline.report.render import markdown_table, render_html, render_markdown
from hiermeta.results.intervals import jsonable

__all__ = ["build_summary", "markdown_table", "write_index", "write_report"]


def build_summary(analysis: Any) -> dict[str, Any]:
    """The JSON summary (no timestamps: the same seed gives a byte-identical file)."""
    primary = analysis.primary
    spec = analysis.spec
    out: dict[str, Any] = {
        "hiermeta_version": __version__,
        "spec": spec.name,
        "title": spec.title,
        "measure": analysis.data.measure,
        "k": analysis.data.k,
        "studies": list(analysis.data.study),
        "excluded": analysis.data.excluded.to_dict(orient="records"),
        "primary_engine": primary.engine,
        "benefit": sections.benefit(analysis),
        "bayesian": {engine: fit.to_dict() for engine, fit in analysis.bayes.items()},
        "frequentist": {label: fit.to_dict() for label, fit in analysis.frequentist.items()},
        "statements": sections.statements(analysis),
        "heterogeneity": primary.heterogeneity().text(),
        "warnings": analysis.warnings,
        "failed_diagnostics": analysis.failed_diagnostics,
    }
    if analysis.subgroups is not None:
        out["subgroups"] = analysis.subgroups.to_dict()
    if analysis.subgroup_tests:
        out["subgroup_tests"] = [t._asdict() for t in analysis.subgroup_tests]
    if analysis.sensitivity is not None:
        out["sensitivity"] = analysis.sensitivity.reset_index().to_dict(orient="records")
    if analysis.agreement is not None:
        out["agreement"] = analysis.agreement.reset_index().to_dict(orient="records")
    for name, table in analysis.robustness.items():
        if name != "gosh":  # GOSH: thousands of subsets — in the report's figure, not the JSON
            out.setdefault("robustness", {})[name] = table.reset_index().to_dict(orient="records")
    if analysis.nested is not None:
        nested = analysis.nested
        level = analysis.primary.ci_level
        out["nested"] = {
            "engine": nested.engine,
            "answer": nested.describe(level),
            "strata": nested.strata(level, sections.thresholds(analysis))
            .reset_index()
            .to_dict(orient="records"),
            "contrasts": nested.contrasts(level).reset_index().to_dict(orient="records"),
            "trend": nested.trend_estimate(level),
            "naive": nested.naive(level).reset_index().to_dict(orient="records"),
            "methods": nested.methods(),
        }
    if analysis.small_study is not None:
        out["small_study"] = _small_study_summary(analysis)
    if analysis.truth is not None:
        out["truth"] = {str(k): float(v) for k, v in analysis.truth["true_effect"].items()}
    return jsonable(out)


def _small_study_summary(analysis: Any) -> dict[str, Any]:
    """The small-study-effect analyses for summary.json."""
    result = analysis.small_study
    out: dict[str, Any] = {
        "favoured": result.favoured,
        "answer": result.describe(),
        "tests": result.tests().reset_index().to_dict(orient="records"),
        "adjusted": result.adjusted(analysis.spec.ci_level).reset_index().to_dict(orient="records"),
        "notes": result.notes,
    }
    if result.trimfill is not None:
        out["trimfill"] = {
            "estimator": result.trimfill.estimator,
            "side": result.trimfill.side,
            "k0": result.trimfill.k0,
            "filled": result.trimfill.filled.to_dict(orient="records"),
        }
    if result.averaging is not None:
        avg = result.averaging
        out["averaging"] = {
            "favoured": avg.favoured,
            "inclusion": avg.inclusion().reset_index().to_dict(orient="records"),
            "models": avg.models().reset_index().to_dict(orient="records"),
            "summary": avg.summary(sections.thresholds(analysis))
            .reset_index()
            .to_dict(orient="records"),
            "methods": avg.methods(),
        }
    if result.bayesian_selection is not None:
        sel = result.bayesian_selection
        out["bayesian_selection"] = {
            "summary": sel.summary(sections.thresholds(analysis))
            .reset_index()
            .to_dict(orient="records"),
            "omega": sel.omega().reset_index().to_dict(orient="records"),
            "failed_diagnostics": sel.failed(),
        }
    return out


def report_date() -> str:
    """Today, or the date of ``SOURCE_DATE_EPOCH`` (reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return when.date().isoformat()


def _save(ax: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure = ax.get_figure(root=True)
    figure.savefig(path, dpi=130, bbox_inches="tight")  # labels never clipped
    plt.close(figure)


def _figures(analysis: Any, folder: Path) -> dict[str, str]:
    from hiermeta.results import plots

    primary = analysis.primary
    by = analysis.subgroup_by
    thresholds = sections.thresholds(analysis)
    drawings: dict[str, Any] = {
        "forest": lambda: plots.forest(
            primary, analysis.comparator, by=by, level=primary.ci_level, overall=analysis.overall
        ),
        "posterior": lambda: plots.posterior_plot(primary, thresholds),
        "tau": lambda: plots.tau_plot(primary),
    }
    continuous = [t.name for t in primary.design.terms if not t.levels]
    if len(continuous) == 1 and len(primary.design.terms) == 1:
        drawings["bubble"] = lambda: plots.bubble_plot(primary, continuous[0])
    if analysis.sensitivity is not None:
        drawings["sensitivity"] = lambda: plots.sensitivity_plot(
            analysis.sensitivity, analysis.data.measure
        )
    drawings.update(_robustness_drawings(analysis, plots))
    if analysis.nested is not None:
        drawings["nested"] = lambda: plots.plot_nested(analysis.nested, ci_level=primary.ci_level)
    small = analysis.small_study
    if small is not None:
        filled = small.trimfill.filled if small.trimfill is not None else None
        drawings["funnel"] = lambda: plots.funnel_plot(
            small.fit.data.y,
            small.fit.data.se,
            small.fit.estimate,
            analysis.data.measure,
            analysis.data.is_ratio,
            filled,
        )
    figures = {}
    for name, draw in drawings.items():
        _save(draw(), folder / f"{name}.png")
        figures[name] = f"{name}.png"
    return figures


def _robustness_drawings(analysis: Any, plots: Any) -> dict[str, Any]:
    """Figures of the influence and cumulative analyses that were run."""
    r, out = analysis.robustness, {}
    loo = r.get("leave_one_out_bayesian")
    if loo is not None:
        out["leave_one_out"] = lambda: plots.leave_one_out_plot(loo, analysis.exact_fit)
    elif "leave_one_out_frequentist" in r:
        table = r["leave_one_out_frequentist"]
        out["leave_one_out"] = lambda: plots.leave_one_out_plot(table, analysis.comparator)
    if "baujat" in r:
        out["baujat"] = lambda: plots.baujat_plot(r["baujat"])
    if "gosh" in r:
        m, ratio = analysis.data.measure, analysis.data.is_ratio
        out["gosh"] = lambda: plots.gosh_plot(r["gosh"], m, ratio)
    cumulative = r.get("cumulative_bayesian")
    if cumulative is not None:
        out["cumulative"] = lambda: plots.cumulative_plot(cumulative, analysis.exact_fit)
        out["trajectory"] = lambda: plots.trajectory_plot(cumulative)
    elif "cumulative_frequentist" in r:
        table = r["cumulative_frequentist"]
        out["cumulative"] = lambda: plots.cumulative_plot(table, analysis.comparator)
    return out


#: Every file a report may hold: a report written into the folder of an earlier one removes
#: those it does not write itself (other files in the folder are never touched).
REPORT_FILES = frozenset(
    {"report.md", "report.html", "summary.json", "posterior.nc"}
    | {
        f"{name}.png"
        for name in (
            "forest", "posterior", "tau", "bubble", "sensitivity", "leave_one_out", "baujat",
            "gosh", "cumulative", "trajectory", "nested", "funnel",
        )
    }
)  # fmt: skip


def stored_posterior(idata: Any, k: int) -> Any:
    """The DataTree written to posterior.nc: everything, or without per-study draws above
    :data:`~hiermeta.pipeline.report.sections.POSTERIOR_MAX_STUDIES` studies (its size then grows with k only through the data)."""
    if k <= sections.POSTERIOR_MAX_STUDIES:
        return idata

    def drop(dataset: Any) -> Any:
        per_study = [
            name
            for name, var in dataset.data_vars.items()
            if "study" in var.dims and "draw" in var.dims
        ]
        return dataset.drop_vars(per_study)

    return idata.map_over_datasets(drop)


def write_report(analysis: Any, out: str | Path, index_link: str = "") -> Path:
    """Write every report file into ``out`` (created if needed); returns the folder.

    Files are produced in a temporary sibling folder and moved into ``out`` only when all of
    them exist, so an error leaves ``out`` untouched. ``index_link`` is the relative address
    of the page listing every report (written by :func:`write_index`), shown at the top.
    """
    out = Path(out)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        figures = _figures(analysis, tmp)
        meta = f"hiermeta {__version__} · {report_date()} · spec {analysis.spec.name}"
        blocks = sections.blocks(analysis, figures, meta, index_link)
        (tmp / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
        page = render_html(blocks, tmp, analysis.spec.title)
        (tmp / "report.html").write_text(page, encoding="utf-8")
        summary = build_summary(analysis)
        (tmp / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        stored_posterior(analysis.primary.idata, analysis.data.k).to_netcdf(
            tmp / "posterior.nc", engine="h5netcdf"
        )
        out.mkdir(parents=True, exist_ok=True)
        written = {item.name for item in tmp.iterdir()}
        for item in sorted(tmp.iterdir()):
            os.replace(item, out / item.name)
        for name in REPORT_FILES - written:  # an earlier report's files that this one lacks
            (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def write_index(out: Path, summaries: dict[str, dict[str, Any]]) -> Path:
    """``out/index.html``: a link to each report (folder name → summary) with its headline."""
    items = []
    for folder, summary in summaries.items():
        flag = " <strong>— diagnostics failed</strong>" if summary["failed_diagnostics"] else ""
        first = summary["statements"][0] if summary["statements"] else ""
        items.append(
            f"<li><a href='{html.escape(folder)}/report.html'>{html.escape(summary['title'])}</a>"
            f"{flag}<br><span class='headline'>{html.escape(sections.headline(summary))}</span>"
            f"<br><small>{html.escape(first)}</small></li>"
        )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>hiermeta reports</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem}"
        "li{margin:.9rem 0}.headline{font-weight:600}.meta{color:#555}</style></head><body>"
        f"<h1>hiermeta reports</h1><p class='meta'>hiermeta {__version__} · {report_date()}</p>"
        "<ul>" + "".join(items) + "</ul></body></html>"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
