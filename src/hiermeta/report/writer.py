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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hiermeta.report.plots import forest, posterior_plot, sensitivity_plot, tau_plot
from hiermeta.report.statements import probability_statements
from hiermeta.results import jsonable

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
    # common conversions are counted; study-specific ones (inversions, p-values) are named
    special = [
        (s, c)
        for s, c in zip(data.study, data.conversions, strict=False)
        if "inverted" in c or "p =" in c
    ]
    common = [c for c in data.conversions if "inverted" not in c and "p =" not in c]
    conv_text = "; ".join(
        f"{n} × {how}" for how, n in pd.Series(common, dtype=object).value_counts().items()
    )
    if special:
        conv_text += "; " + "; ".join(f"{s}: {c}" for s, c in special)
    lines = [
        f"Data: {data.k} estimates from {source}{subset}. Effect scale: log {data.measure} "
        f"(results reported as {data.measure}; {data.measure} < 1 favours the treatment). Conversions: {conv_text}.",
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
        model = f"random-effects meta-regression on {', '.join(analysis.moderators)} (reference level first: {', '.join(f'{t.name} = {t.reference}' for t in primary.design.terms if t.levels)})"
    lines.append(f"Model: {model}, on the log {data.measure} scale.")
    lines.append(
        f"Priors: mu ~ {primary.mu_prior.describe(data.measure)} tau ~ {primary.tau_prior.describe(data.measure)}"
    )
    if not primary.design.intercept_only:
        lines.append(
            f"Other coefficients ~ {spec.beta_prior().describe(data.measure)} (a ratio of {data.measure}s)."
        )
    for engine, fit in analysis.bayes.items():
        if engine == "exact":
            lines.append(
                "Exact engine: the posterior is integrated by Gauss–Legendre quadrature over tau (no Monte-Carlo error)."
            )
        else:
            s = fit.structure
            lines.append(
                f"NUTS engine (PyMC): {s.parameterisation} parameterisation, {s.random_effects} random effects"
                + (", between- and within-cohort heterogeneity" if s.clusters else "")
                + (", one tau per subgroup" if s.tau_groups > 1 else "")
                + f"; {fit.idata.posterior.sizes['chain']} chains × {fit.idata.posterior.sizes['draw']} draws, random_seed = {fit.random_seed}. "
                + " ".join(fit.notes[1:])
            )
    pi_kind = spec.report.get("pi_kind", "t-k-1")
    lines.append(
        "Prediction intervals: Bayesian = 95% posterior predictive interval of the true effect in a new study; "
        f"frequentist = mu ± t(k−1) · sqrt(se² + tau²) (kind '{pi_kind}', as R's meta)."
    )
    return lines


def build_summary(analysis: Any) -> dict[str, Any]:
    """The JSON summary (no timestamps: the same seed gives a byte-identical file)."""
    from hiermeta import __version__

    primary = analysis.primary
    out: dict[str, Any] = {
        "hiermeta_version": __version__,
        "spec": analysis.spec.name,
        "title": analysis.spec.title,
        "measure": analysis.data.measure,
        "k": analysis.data.k,
        "studies": list(analysis.data.study),
        "excluded": analysis.data.excluded.to_dict(orient="records"),
        "primary_engine": primary.engine,
        "bayesian": {engine: fit.to_dict() for engine, fit in analysis.bayes.items()},
        "frequentist": {label: fit.to_dict() for label, fit in analysis.frequentist.items()},
        "statements": probability_statements(
            primary,
            tuple(analysis.spec.report.get("thresholds", (1.0, 0.8))),
            treatment=analysis.spec.report.get("treatment", "the treatment"),
        ),
        "warnings": analysis.warnings,
        "failed_diagnostics": analysis.failed_diagnostics,
    }
    if analysis.subgroups is not None:
        out["subgroups"] = analysis.subgroups.to_dict()
    if analysis.sensitivity is not None:
        out["sensitivity"] = analysis.sensitivity.reset_index().to_dict(orient="records")
    if analysis.agreement is not None:
        out["agreement"] = analysis.agreement.reset_index().to_dict(orient="records")
    for engine, fit in analysis.bayes.items():
        if engine == "nuts":
            table = fit.check().reset_index()
            out.setdefault("diagnostics", {})[engine] = table.to_dict(orient="records")
    if analysis.truth is not None:
        out["truth"] = {str(k): float(v) for k, v in analysis.truth["true_hr"].items()}
    return jsonable(out)


def _blocks(analysis: Any, figures: dict[str, str]) -> list[_Block]:
    spec, primary, data = analysis.spec, analysis.primary, analysis.data
    m = data.measure
    thresholds = tuple(spec.report.get("thresholds", (1.0, 0.8)))
    blocks = [_Block("h1", spec.title)]
    if spec.simulation is not None:
        blocks.append(
            _Block(
                "alert",
                "SIMULATED DATA: these studies were generated by hm.simulate with a fixed seed; they are not real patients.",
            )
        )
    failed = analysis.failed_diagnostics
    if failed:
        blocks.append(
            _Block(
                "alert", "Diagnostics failed — read the results with care:\n" + "\n".join(failed)
            )
        )
    else:
        checked = (
            ", ".join(
                [
                    "R-hat, ESS, divergences, BFMI (NUTS)" if "nuts" in analysis.bayes else "",
                    "exact vs NUTS agreement" if analysis.agreement is not None else "",
                    "exact quadrature (no Monte-Carlo error)" if "exact" in analysis.bayes else "",
                ]
            )
            .strip(", ")
            .replace(", ,", ",")
        )
        blocks.append(_Block("alert", f"All diagnostics passed: {checked}.", caption="ok"))
    if analysis.warnings:
        blocks.append(
            _Block("alert", "Warnings raised during the analysis:\n" + "\n".join(analysis.warnings))
        )
    if spec.description:
        blocks.append(_Block("p", spec.description))
    blocks.append(_Block("h2", "Probability of benefit"))
    blocks.append(
        _Block(
            "list",
            probability_statements(
                primary, thresholds, treatment=spec.report.get("treatment", "the treatment")
            ),
        )
    )
    blocks.append(
        _Block(
            "image",
            figures["forest"],
            f"Forest plot ({m}, log scale): observed estimates, shrunken posteriors, pooled posterior with the predictive interval, and the frequentist REML estimate.",
        )
    )
    blocks.append(
        _Block(
            "image",
            figures["posterior"],
            f"Posterior of the mean {m} with "
            + ", ".join(f"P({m} < {t:g})" for t in thresholds)
            + " shaded.",
        )
    )
    blocks.append(
        _Block("image", figures["tau"], "Prior (dashed) and posterior of the between-study SD tau.")
    )
    blocks.append(_Block("h2", "Posterior summary"))
    blocks.append(
        _Block(
            "table",
            primary.summary().drop(columns=["mcse_mean"]),
            f"Engine: {primary.engine}. Log-scale columns first, then {m} (exponentiated median and intervals); ci = central, hdi = shortest interval.",
        )
    )
    blocks.append(_Block("h2", "Frequentist vs Bayesian"))
    from hiermeta.compare import compare

    fits = list(analysis.frequentist.values()) + list(analysis.bayes.values())
    if primary.design.intercept_only:
        blocks.append(
            _Block(
                "table",
                compare(*fits, pi_kind=spec.report.get("pi_kind", "t-k-1")),
                "Frequentist rows: confidence intervals and a t(k−1) prediction interval; Bayesian rows: credible and posterior predictive intervals.",
            )
        )
    else:
        rows = []
        for label, fit in analysis.frequentist.items():
            table = fit.coefficients()
            for term, row in table.iterrows():
                rows.append(
                    {
                        "model": label,
                        "term": term,
                        m: row[m] if m in row else row["estimate"],
                        "ci_low": row.get(f"{m} ci_low", row["ci_low"]),
                        "ci_high": row.get(f"{m} ci_high", row["ci_high"]),
                        "p_value": row["p_value"],
                    }
                )
        for engine, fit in analysis.bayes.items():
            table = fit.summary()
            for term in ["mu", *fit.design.names[1:]]:
                r = table.loc[term] if term in table.index else fit.summary(params=[term]).loc[term]
                rows.append(
                    {
                        "model": f"Bayes {engine}",
                        "term": "intercept" if term == "mu" else term,
                        m: r.get(m, r["median"]),
                        "ci_low": r.get(f"{m} ci_low", r["ci_low"]),
                        "ci_high": r.get(f"{m} ci_high", r["ci_high"]),
                        "p_value": np.nan,
                    }
                )
        blocks.append(
            _Block(
                "table",
                pd.DataFrame(rows).set_index("model"),
                f"Coefficients as {m}s (intercept) and ratios of {m}s (moderators).",
            )
        )
        if analysis.subgroups is not None:
            sub = analysis.subgroups
            blocks.append(
                _Block(
                    "table",
                    sub.summary(),
                    f"Separate REML fits per subgroup. Test for subgroup differences: Q = {sub.q_between:.2f}, df = {sub.q_between_df}, p = {sub.q_between_p:.3g} (separate tau²); QM = {sub.regression.qm:.2f}, p = {sub.regression.qm_p:.3g} (common tau²).",
                )
            )
    if analysis.truth is not None:
        blocks.append(_Block("h2", "Recovery of the simulated truth"))
        rows = []
        by = analysis.subgroup_by
        for level, true in analysis.truth["true_hr"].items():
            param = f"{by}={level}" if by else "mu"
            q = data.to_natural(primary.quantile(param, [0.025, 0.5, 0.975]))
            rows.append(
                {
                    "stratum": level,
                    f"true {m}": true,
                    f"posterior {m}": q[1],
                    "ci_low": q[0],
                    "ci_high": q[2],
                    "covered": bool(q[0] <= true <= q[2]),
                }
            )
        blocks.append(_Block("table", pd.DataFrame(rows).set_index("stratum")))
    if analysis.sensitivity is not None:
        blocks.append(_Block("h2", "Prior sensitivity"))
        blocks.append(
            _Block(
                "table",
                analysis.sensitivity,
                f"Exact engine under each tau prior of the catalogue ({m} scale; tau on the log scale).",
            )
        )
        if "sensitivity" in figures:
            blocks.append(
                _Block(
                    "image",
                    figures["sensitivity"],
                    "Pooled estimate and predictive interval under each prior.",
                )
            )
    blocks.append(_Block("h2", "Diagnostics"))
    for engine, fit in analysis.bayes.items():
        if engine == "nuts":
            blocks.append(
                _Block(
                    "table",
                    fit.check(),
                    "NUTS diagnostics (ArviZ): R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergences, BFMI ≥ 0.3.",
                )
            )
    if analysis.agreement is not None:
        blocks.append(
            _Block(
                "table",
                analysis.agreement,
                "NUTS vs exact engine, in Monte-Carlo standard errors (agrees: |z| ≤ 4).",
            )
        )
    if "exact" in analysis.bayes and "nuts" not in analysis.bayes:
        blocks.append(
            _Block(
                "p",
                "The exact engine has no sampling diagnostics: its quadrature error is below 1e-6 on probabilities (tested against a grid eight times finer).",
            )
        )
    blocks.append(_Block("h2", "Methods"))
    for line in _methods(analysis):
        blocks.append(_Block("p", line))
    blocks.append(_Block("h2", "Studies"))
    frame = data.to_frame().set_index("study")
    frame["conversion"] = list(data.conversions) if data.conversions else ""
    blocks.append(_Block("table", frame))
    return blocks


def _save(ax: Any, path: Path) -> None:
    figure = ax.get_figure(root=True)
    figure.savefig(path, dpi=130)
    plt.close(figure)


def _figures(analysis: Any, folder: Path) -> dict[str, str]:
    primary = analysis.primary
    reml = next((f for label, f in analysis.frequentist.items() if label.startswith("REML")), None)
    by = analysis.subgroup_by
    figures = {}
    ax = forest(primary, reml, by=by)
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
