"""Write an analysis as report.md, a self-contained report.html, PNG figures, summary.json and
the posterior as NetCDF — into a temporary folder first, moved into place only at the end, so a
failure never leaves a half-written report.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.analyses.compare import compare
from hiermeta.pipeline.report.statements import probability_statements
from hiermeta.results.intervals import PI_KIND_TEXT, jsonable

__all__ = ["build_summary", "markdown_table", "write_report"]


# ------------------------------------------------------------------------------ blocks
@dataclass
class _Block:
    kind: str  # "h1", "h2", "p", "list", "table", "image", "alert"
    content: Any
    caption: str = ""


def _md(blocks: list[_Block]) -> str:
    out = []
    for b in blocks:
        if b.kind == "h1":
            out.append(f"# {b.content}\n")
        elif b.kind == "h2":
            out.append(f"## {b.content}\n")
        elif b.kind == "p":
            out.append(f"{b.content}\n")
        elif b.kind == "alert":
            out.append("> **" + b.content.replace("\n", "\n> ") + "**\n")
        elif b.kind == "list":
            out.append("\n".join(f"- {item}" for item in b.content) + "\n")
        elif b.kind == "table":
            out.append(markdown_table(b.content) + ("\n\n" + b.caption if b.caption else "") + "\n")
        elif b.kind == "image":
            out.append(f"![{b.caption}]({b.content})\n\n*{b.caption}*\n")
    return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return ""
        return f"{value:.4g}" if abs(float(value)) < 1e5 else f"{value:.3e}"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "NO"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    frame = frame.reset_index()
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _html(blocks: list[_Block], folder: Path, title: str) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#222}",
        "table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .45rem;text-align:right}",
        "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}",
        ".alert{background:#fff3cd;border-left:5px solid #d39e00;padding:.6rem 1rem;font-weight:600}",
        ".ok{background:#e8f5e9;border-left:5px solid #2e7d32;padding:.6rem 1rem}figcaption{font-style:italic;font-size:.9rem}",
        "</style></head><body>",
    ]
    for b in blocks:
        if b.kind in ("h1", "h2"):
            parts.append(f"<{b.kind}>{html.escape(b.content)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{html.escape(b.content)}</p>")
        elif b.kind == "alert":
            css = "ok" if b.caption == "ok" else "alert"
            parts.append(
                f"<div class='{css}'>{html.escape(b.content).replace(chr(10), '<br>')}</div>"
            )
        elif b.kind == "list":
            parts.append(
                "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in b.content) + "</ul>"
            )
        elif b.kind == "table":
            frame = b.content.reset_index()
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                for row in frame.itertuples(index=False)
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            if b.caption:
                parts.append(f"<p><em>{html.escape(b.caption)}</em></p>")
        elif b.kind == "image":
            data = base64.b64encode((folder / b.content).read_bytes()).decode("ascii")
            parts.append(
                f"<figure><img alt='{html.escape(b.caption)}' src='data:image/png;base64,{data}'><figcaption>{html.escape(b.caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)


# ------------------------------------------------------------------------------ content
def _methods(analysis: Any) -> list[str]:
    data, spec, primary = analysis.data, analysis.spec, analysis.primary
    source = spec.data.get("dataset") or spec.data.get("csv") or "simulation"
    subset = f", rows with {spec.data['subset']} = true" if spec.data.get("subset") else ""
    lines = [
        f"Data: {data.k} estimates from {source}{subset}. Effect scale: log {data.measure} "
        f"(results reported as {data.measure}; {data.measure} < 1 favours the treatment). "
        f"Conversions: {_conversions(data)}.",
    ]
    if len(data.excluded):
        lines.append(
            "Excluded (cannot enter an inverse-variance model): "
            + "; ".join(
                f"{s} — {r}" for s, r in zip(data.excluded.study, data.excluded.reason, strict=True)
            )
            + "."
        )
    model = "normal–normal random-effects model"
    if not primary.design.intercept_only:
        references = ", ".join(
            f"{t.name} = {t.reference}" for t in primary.design.terms if t.levels
        )
        model = (
            f"random-effects meta-regression on {', '.join(analysis.moderators)} "
            f"(reference level first: {references})"
        )
    lines.append(f"Model: {model}, on the log {data.measure} scale.")
    if not primary.design.intercept_only:
        lines.append(
            f"Other coefficients ~ {spec.beta_prior().describe(data.measure)} (a ratio of {data.measure}s)."
        )
    for fit in analysis.fits:
        lines += fit.methods()
    kinds = sorted({p.kind for f in analysis.fits if (p := f.prediction()) is not None})
    lines.append(
        "Prediction intervals (the true effect in a new study): "
        + "; ".join(f"{kind} = {PI_KIND_TEXT[kind]}" for kind in kinds)
        + "."
    )
    return lines


def _conversions(data: Any) -> str:
    """Common conversions counted; study-specific ones (inversions, p-values) named."""
    special = [
        (s, c)
        for s, c in zip(data.study, data.conversions, strict=False)
        if "inverted" in c or "p =" in c
    ]
    common = [c for c in data.conversions if "inverted" not in c and "p =" not in c]
    text = "; ".join(
        f"{n} × {how}" for how, n in pd.Series(common, dtype=object).value_counts().items()
    )
    if special:
        text += "; " + "; ".join(f"{s}: {c}" for s, c in special)
    return text


def build_summary(analysis: Any) -> dict[str, Any]:
    """The JSON summary (no timestamps: the same seed gives a byte-identical file)."""
    from hiermeta._version import __version__

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
        "bayesian": {engine: fit.to_dict() for engine, fit in analysis.bayes.items()},
        "frequentist": {label: fit.to_dict() for label, fit in analysis.frequentist.items()},
        "statements": _statements(analysis),
        "warnings": analysis.warnings,
        "failed_diagnostics": analysis.failed_diagnostics,
    }
    if analysis.subgroups is not None:
        out["subgroups"] = analysis.subgroups.to_dict()
    if analysis.sensitivity is not None:
        out["sensitivity"] = analysis.sensitivity.reset_index().to_dict(orient="records")
    if analysis.agreement is not None:
        out["agreement"] = analysis.agreement.reset_index().to_dict(orient="records")
    if analysis.truth is not None:
        out["truth"] = {str(k): float(v) for k, v in analysis.truth["true_effect"].items()}
    return jsonable(out)


def _statements(analysis: Any) -> list[str]:
    return probability_statements(
        analysis.primary,
        _thresholds(analysis),
        treatment=analysis.spec.report.get("treatment", "the treatment"),
    )


def _thresholds(analysis: Any) -> tuple[float, ...]:
    return tuple(analysis.spec.report.get("thresholds", (1.0, 0.8)))


def _blocks(analysis: Any, figures: dict[str, str]) -> list[_Block]:
    """The report, section by section (each section a small function below)."""
    blocks = [_Block("h1", analysis.spec.title), *_alerts(analysis)]
    if analysis.spec.description:
        blocks.append(_Block("p", analysis.spec.description))
    for section in (
        _probability_section,
        _figure_section,
        _summary_section,
        _comparison_section,
        _truth_section,
        _sensitivity_section,
        _diagnostics_section,
    ):
        blocks += section(analysis, figures)
    blocks += [_Block("h2", "Methods"), *(_Block("p", line) for line in _methods(analysis))]
    frame = analysis.data.to_frame().set_index("study")
    frame["conversion"] = list(analysis.data.conversions) if analysis.data.conversions else ""
    blocks += [_Block("h2", "Studies"), _Block("table", frame)]
    return blocks


def _alerts(analysis: Any) -> list[_Block]:
    out = []
    if analysis.spec.simulation is not None:
        out.append(
            _Block(
                "alert",
                "SIMULATED DATA: these studies were generated by hm.simulate with a fixed seed; they are not real patients.",
            )
        )
    failed = analysis.failed_diagnostics
    if failed:
        out.append(
            _Block(
                "alert", "Diagnostics failed — read the results with care:\n" + "\n".join(failed)
            )
        )
    else:
        checked = []
        if any(f.monte_carlo for f in analysis.bayes.values()):
            checked.append("R-hat, ESS, divergences, BFMI (NUTS)")
        if analysis.agreement is not None:
            checked.append("exact vs NUTS agreement")
        if any(not f.monte_carlo for f in analysis.bayes.values()):
            checked.append("exact quadrature (no Monte-Carlo error)")
        out.append(_Block("alert", f"All diagnostics passed: {', '.join(checked)}.", caption="ok"))
    if analysis.warnings:
        out.append(
            _Block("alert", "Warnings raised during the analysis:\n" + "\n".join(analysis.warnings))
        )
    return out


def _probability_section(analysis: Any, figures: dict[str, str]) -> list[_Block]:
    return [_Block("h2", "Probability of benefit"), _Block("list", _statements(analysis))]


def _figure_section(analysis: Any, figures: dict[str, str]) -> list[_Block]:
    m = analysis.data.measure
    probs = ", ".join(f"P({m} < {t:g})" for t in _thresholds(analysis))
    return [
        _Block(
            "image",
            figures["forest"],
            f"Forest plot ({m}, log scale): observed estimates, shrunken posteriors, the pooled "
            f"posterior with its prediction interval, and {analysis.comparator_label}.",
        ),
        _Block("image", figures["posterior"], f"Posterior of the mean {m} with {probs} shaded."),
        _Block(
            "image", figures["tau"], "Prior (dashed) and posterior of the between-study SD tau."
        ),
    ]


def _summary_section(analysis: Any, figures: dict[str, str]) -> list[_Block]:
    primary = analysis.primary
    m = analysis.data.measure
    return [
        _Block("h2", "Posterior summary"),
        _Block(
            "table",
            primary.summary(),
            f"{primary.label}. Log-scale columns first, then {m} (exponentiated estimate and "
            "interval); the interval column says which interval each row shows.",
        ),
    ]


def _comparison_section(analysis: Any, figures: dict[str, str]) -> list[_Block]:
    primary, m = analysis.primary, analysis.data.measure
    out = [_Block("h2", "Frequentist vs Bayesian")]
    if primary.design.intercept_only:
        out.append(
            _Block(
                "table",
                compare(*analysis.fits),
                "Frequentist rows: confidence intervals; Bayesian rows: credible intervals. "
                "The pi column names each prediction interval's kind.",
            )
        )
        return out
    rows = []
    for fit in analysis.fits:
        table = fit.summary()
        for term in ["mu", *fit.design.names[1:]]:
            r = table.loc[term]
            rows.append(
                {
                    "model": fit.label,
                    "term": "intercept" if term == "mu" else term,
                    m: r.get(m, r["estimate"]),
                    "ci_low": r.get(f"{m} ci_low", r["ci_low"]),
                    "ci_high": r.get(f"{m} ci_high", r["ci_high"]),
                    "p_value": r["p_value"],
                }
            )
    out.append(
        _Block(
            "table",
            pd.DataFrame(rows).set_index("model"),
            f"Coefficients as {m}s (intercept) and ratios of {m}s (moderators).",
        )
    )
    if analysis.subgroups is not None:
        sub = analysis.subgroups
        out.append(
            _Block(
                "table",
                sub.summary(),
                f"Separate REML fits per subgroup. Test for subgroup differences: Q = {sub.q_between:.2f}, df = {sub.q_between_df}, p = {sub.q_between_p:.3g} (separate tau²); QM = {sub.regression.qm:.2f}, p = {sub.regression.qm_p:.3g} (common tau²).",
            )
        )
    return out


def _truth_section(analysis: Any, figures: dict[str, str]) -> list[_Block]:
    if analysis.truth is None:
        return []
    primary, m = analysis.primary, analysis.data.measure
    by = analysis.subgroup_by
    rows = []
    for level, true in analysis.truth["true_effect"].items():
        est = primary.effect(f"{by}={level}" if by else "mu")
        low, med, high = analysis.data.to_natural([est.low, est.estimate, est.high])
        rows.append(
            {
                "stratum": level,
                f"true {m}": true,
                f"posterior {m}": med,
                "ci_low": low,
                "ci_high": high,
                "covered": bool(low <= true <= high),
            }
        )
    return [
        _Block("h2", "Recovery of the simulated truth"),
        _Block("table", pd.DataFrame(rows).set_index("stratum")),
    ]


def _sensitivity_section(analysis: Any, figures: dict[str, str]) -> list[_Block]:
    if analysis.sensitivity is None:
        return []
    m = analysis.data.measure
    out = [
        _Block("h2", "Prior sensitivity"),
        _Block(
            "table",
            analysis.sensitivity,
            f"Exact engine under each tau prior of the catalogue ({m} scale; tau on the log scale).",
        ),
    ]
    if "sensitivity" in figures:
        out.append(
            _Block(
                "image",
                figures["sensitivity"],
                "Pooled estimate and predictive interval under each prior.",
            )
        )
    return out


def _diagnostics_section(analysis: Any, figures: dict[str, str]) -> list[_Block]:
    out = [_Block("h2", "Diagnostics")]
    for fit in analysis.bayes.values():
        table = fit.diagnostics()
        if table is not None:
            out.append(
                _Block(
                    "table",
                    table,
                    f"{fit.label} diagnostics (ArviZ): R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergences, BFMI ≥ 0.3.",
                )
            )
    if analysis.agreement is not None:
        out.append(
            _Block(
                "table",
                analysis.agreement,
                "NUTS vs exact engine, in Monte-Carlo standard errors (agrees: |z| ≤ 4).",
            )
        )
    if all(f.diagnostics() is None for f in analysis.bayes.values()):
        out.append(
            _Block(
                "p",
                "The exact engine has no sampling diagnostics: its quadrature error is below 1e-6 on probabilities (tested against a grid eight times finer).",
            )
        )
    return out


def _save(ax: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure = ax.get_figure(root=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)


def _figures(analysis: Any, folder: Path) -> dict[str, str]:
    from hiermeta.results.plots import forest, posterior_plot, sensitivity_plot, tau_plot

    primary = analysis.primary
    by = analysis.subgroup_by
    figures = {}
    ax = forest(primary, analysis.comparator, by=by)
    _save(ax, folder / "forest.png")
    figures["forest"] = "forest.png"
    thresholds = tuple(analysis.spec.report.get("thresholds", (1.0, 0.8)))
    ax = posterior_plot(primary, thresholds)
    _save(ax, folder / "posterior.png")
    figures["posterior"] = "posterior.png"
    ax = tau_plot(primary)
    _save(ax, folder / "tau.png")
    figures["tau"] = "tau.png"
    if analysis.sensitivity is not None:
        ax = sensitivity_plot(analysis.sensitivity, analysis.data.measure)
        _save(ax, folder / "sensitivity.png")
        figures["sensitivity"] = "sensitivity.png"
    return figures


def write_report(analysis: Any, out: str | Path) -> Path:
    """Write every report file into ``out`` (created if needed); returns the folder.

    Files are produced in a temporary sibling folder and moved into ``out`` only when all of
    them exist, so an error leaves ``out`` untouched.
    """
    out = Path(out)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        figures = _figures(analysis, tmp)
        blocks = _blocks(analysis, figures)
        (tmp / "report.md").write_text(_md(blocks), encoding="utf-8")
        (tmp / "report.html").write_text(_html(blocks, tmp, analysis.spec.title), encoding="utf-8")
        summary = build_summary(analysis)
        (tmp / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        analysis.primary.idata.to_netcdf(tmp / "posterior.nc", engine="h5netcdf")
        out.mkdir(parents=True, exist_ok=True)
        for item in sorted(tmp.iterdir()):
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
