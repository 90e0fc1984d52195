"""The report's content, section by section, read from the result contract.

Each section is a small function ``(analysis, figures) -> list[Block]``; :func:`blocks` puts
them in order. Parameter names are shown readably (``design = RCT``, not ``design[RCT]``),
ratio-scale columns come first, and every interval says what it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hiermeta.analyses.compare import compare
from hiermeta.analyses.influence import first_crossing
from hiermeta.data.design import Design
from hiermeta.pipeline.report.render import Block
from hiermeta.pipeline.report.statements import (
    MEASURE_WORDS,
    default_benefit,
    default_thresholds,
    probability_statements,
)
from hiermeta.results.contract import MetaResult
from hiermeta.results.idata import PER_STUDY_DRAWS_MAX
from hiermeta.results.intervals import PI_KIND_TEXT, format_probability, probability_text

__all__ = ["benefit", "blocks", "display_name", "methods", "statements", "thresholds"]

#: Above this many studies posterior.nc keeps no per-study draws (study effects, pointwise
#: log-likelihood, replicated data): 4,000 draws × 2,000 studies would be 64 MB. The summaries
#: of every study are in the report and summary.json; the API gives the draws. One limit with
#: the exact engine's DataTree (which then draws no study effects at all).
POSTERIOR_MAX_STUDIES = PER_STUDY_DRAWS_MAX


# ------------------------------------------------------------------------------ settings
def thresholds(analysis: Any) -> tuple[float, ...]:
    """Probability thresholds on the reporting scale (the spec's, or the measure's default)."""
    given = analysis.spec.report.get("thresholds")
    return tuple(given) if given else default_thresholds(analysis.data.measure)


def benefit(analysis: Any) -> str | None:
    """Direction of benefit: the spec's ``[report] benefit``, else the measure's default."""
    given = analysis.spec.report.get("benefit", "default")
    return default_benefit(analysis.data.measure) if given == "default" else given


def statements(analysis: Any) -> list[str]:
    """The plain-words statements of the primary fit."""
    return probability_statements(
        analysis.primary,
        thresholds(analysis),
        level=analysis.spec.ci_level,
        treatment=analysis.spec.report.get("treatment", "the treatment"),
        benefit=benefit(analysis),
    )


def direction_text(analysis: Any) -> str:
    """Which direction is read as benefit, in words."""
    m = analysis.data.measure
    words = MEASURE_WORDS.get(m, MEASURE_WORDS["GEN"])
    direction = benefit(analysis)
    if direction is None:
        return (
            f"No direction of benefit is assumed for the {words.name}: probabilities are stated "
            f"for values below the thresholds (set [report] benefit to 'lower' or 'higher')."
        )
    null = 1 if analysis.data.is_ratio else 0
    sign = "<" if direction == "lower" else ">"
    return (
        f"Benefit is read as a {direction} {m} ({m} {sign} {null}: {analysis.spec.report.get('treatment', 'the treatment')} "
        f"{'lowers' if direction == 'lower' else 'raises'} {words.quantity}); "
        f"set [report] benefit to change it."
    )


# ------------------------------------------------------------------------------ labels
def display_name(param: str, design: Design) -> str:
    """``design = RCT vs observational`` for a coefficient, ``design = RCT`` for a level."""
    if param == "mu":
        if design.intercept_only:
            return "pooled"
        refs = ", ".join(f"{t.name} = {t.reference}" for t in design.terms if t.levels)
        return f"intercept ({refs})" if refs else "intercept (moderators at 0)"
    if param == "predictive":
        return "new setting (prediction)" if design.intercept_only else "new setting, intercept"
    if param.startswith("predictive[") and param.endswith("]"):
        return "new setting, " + display_name(param[len("predictive[") : -1], design)
    if "=" in param:
        name, _, level = param.partition("=")
        return f"{name} = {level}"
    for term in design.terms:
        if term.levels and param.startswith(f"{term.name}[") and param.endswith("]"):
            return f"{term.name} = {param[len(term.name) + 1 : -1]} vs {term.reference}"
        if param == term.name:
            return f"{term.name} (per unit)"
    return {"I2": "I² (%)", "H2": "H²", "tau2": "tau²"}.get(param, param)


def display_summary(fit: MetaResult) -> pd.DataFrame:
    """The contract's summary with readable names, ratio-scale columns first."""
    table = fit.summary().copy()
    table.index = pd.Index([display_name(p, fit.design) for p in table.index], name="quantity")
    m = fit.data.measure
    log = {
        c: f"log {m} {c}" if c != "estimate" else f"log {m}"
        for c in ("estimate", "ci_low", "ci_high")
    }
    if not fit.data.is_ratio:
        return table[["estimate", "ci_low", "ci_high", "interval", "se", "p_value"]]
    table = table.rename(columns={**log, "se": f"se (log {m})"})
    ratio = [m, f"{m} ci_low", f"{m} ci_high"]
    rest = ["interval", *log.values(), f"se (log {m})", "p_value"]
    return table[ratio + rest]


# ------------------------------------------------------------------------------ methods
def methods(analysis: Any) -> list[str]:
    """The methods section: data, model, each fit's engine and priors, interval kinds."""
    data, spec, primary = analysis.data, analysis.spec, analysis.primary
    source = spec.data.get("dataset") or spec.data.get("csv") or "simulation"
    subset = f", rows with {spec.data['subset']} = true" if spec.data.get("subset") else ""
    scale = data.log_label
    info = data.measure_info
    lines = [
        f"Data: {data.k} estimates from {source}{subset}. Effect measure: {info.title}; "
        f"effect scale: {scale}"
        + (f" (results reported as {data.natural_label})" if data.back_transformed else "")
        + f". Conversions: {_conversions(data)}.",
        direction_text(analysis),
    ]
    if len(data.excluded):
        excluded = "; ".join(
            f"{s} — {r}" for s, r in zip(data.excluded.study, data.excluded.reason, strict=True)
        )
        lines.append(f"Excluded (cannot enter an inverse-variance model): {excluded}.")
    model = "normal–normal random-effects model"
    if not primary.design.intercept_only:
        refs = ", ".join(f"{t.name} = {t.reference}" for t in primary.design.terms if t.levels)
        model = f"random-effects meta-regression on {', '.join(analysis.moderators)}" + (
            f" (reference level: {refs})" if refs else ""
        )
        lines.append(
            f"Other coefficients ~ {spec.beta_prior(data).describe(data.measure)}"
            + (f" (a ratio of {data.measure}s)." if data.is_ratio else " (a difference).")
        )
    lines.insert(2, f"Model: {model}, on the {scale} scale.")
    for fit in analysis.fits:
        lines += fit.methods()
    if analysis.nested is not None:
        lines += analysis.nested.methods()
    if data.k > POSTERIOR_MAX_STUDIES:
        lines.append(
            f"posterior.nc holds no per-study draws above {POSTERIOR_MAX_STUDIES} studies (here "
            f"{data.k}): study effects are summarised in this report and summary.json; "
            "hm.bayesian gives their draws."
        )
    kinds = sorted({p.kind for f in analysis.fits if (p := f.prediction()) is not None})
    lines.append(
        "Prediction intervals (the true effect in a new study's setting): "
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
    return text or "none (effects given on the analysis scale)"


# ------------------------------------------------------------------------------ sections
def blocks(analysis: Any, figures: dict[str, str], meta: str, index_link: str) -> list[Block]:
    """The report, section by section."""
    out = [Block("h1", analysis.spec.title), Block("meta", meta, index_link), *_alerts(analysis)]
    if analysis.spec.description:
        out.append(Block("p", analysis.spec.description))
    out.append(Block("toc", None))
    for section in (
        _probability_section,
        _figure_section,
        _summary_section,
        _heterogeneity_section,
        _subgroup_section,
        _nested_section,
        _comparison_section,
        _truth_section,
        _sensitivity_section,
        _influence_section,
        _cumulative_section,
        _small_study_section,
        _diagnostics_section,
    ):
        out += section(analysis, figures)
    out += [Block("h2", "Methods"), *(Block("p", line) for line in methods(analysis))]
    frame = analysis.data.to_frame().set_index("study")
    frame["weight %"] = analysis.primary.study_weights()
    frame["conversion"] = list(analysis.data.conversions) if analysis.data.conversions else ""
    out += [
        Block("h2", "Studies"),
        Block("table", frame, "Weights: inverse-variance weights of the primary fit (at its tau)."),
    ]
    return out


def _alerts(analysis: Any) -> list[Block]:
    out = []
    if analysis.spec.simulation is not None:
        out.append(
            Block(
                "alert",
                "SIMULATED DATA: these studies were generated by hm.simulate with a fixed seed; they are not real patients.",
            )
        )
    failed = analysis.failed_diagnostics
    if failed:
        out.append(
            Block("alert", "Diagnostics failed — read the results with care:\n" + "\n".join(failed))
        )
    else:
        checked = []
        if any(f.monte_carlo for f in analysis.bayes.values()):
            checked.append("R-hat, ESS, divergences, BFMI (NUTS)")
        if analysis.agreement is not None:
            checked.append("exact vs NUTS agreement")
        if any(not f.monte_carlo for f in analysis.bayes.values()):
            checked.append("exact quadrature (no Monte-Carlo error)")
        out.append(Block("alert", f"All diagnostics passed: {', '.join(checked)}.", caption="ok"))
    if analysis.warnings:
        out.append(
            Block("alert", "Warnings raised during the analysis:\n" + "\n".join(analysis.warnings))
        )
    return out


def _probability_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    return [
        Block("h2", "Probability of benefit"),
        Block("list", statements(analysis)),
        Block("p", direction_text(analysis)),
    ]


def _figure_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    m = analysis.data.measure
    probs = ", ".join(f"P({m} < {t:g})" for t in thresholds(analysis))
    out = [
        Block("h2", "Figures"),
        Block(
            "image",
            figures["forest"],
            f"Forest plot ({m}): observed estimates (squares sized by weight), shrunken "
            f"posteriors, the pooled posterior with its prediction interval, "
            f"{analysis.comparator_label}, and heterogeneity.",
        ),
    ]
    if "bubble" in figures:
        out.append(Block("image", figures["bubble"], f"{m} against the continuous moderator."))
    what = "in each subgroup" if analysis.primary.level_params() else "(pooled mean effect)"
    out += [
        Block("image", figures["posterior"], f"Posterior of the mean {m} {what}, with {probs}."),
        Block("image", figures["tau"], "Prior (dashed) and posterior of the between-study SD tau."),
    ]
    return out


def _summary_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    primary = analysis.primary
    return [
        Block("h2", "Pooled results"),
        Block(
            "table",
            display_summary(primary),
            f"{primary.label}. The interval column names each row's interval; estimates of "
            "Bayesian fits are posterior medians, their se the posterior SD.",
        ),
    ]


def _heterogeneity_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    rows = []
    for fit in analysis.fits:
        het = fit.heterogeneity()
        rows.append(
            {
                "fit": fit.label,
                "tau": het.tau.estimate,
                "tau low": het.tau.low,
                "tau high": het.tau.high,
                "tau interval": het.tau.interval,
                "I² %": het.i2,
                "I² low": het.i2_low,
                "I² high": het.i2_high,
                "H²": het.h2,
                "Q": het.q,
                "df": het.q_df,
                "p_value": het.q_p,
            }
        )
    residual = " (residual, with the moderators)" if analysis.moderators else ""
    return [
        Block("h2", "Heterogeneity"),
        Block("p", f"{analysis.primary.label}: {analysis.primary.heterogeneity().text()}."),
        Block(
            "table",
            pd.DataFrame(rows).set_index("fit"),
            f"Between-study SD tau{residual} with its interval, I² and H² (from tau and the "
            "typical within-study variance, as metafor), and Cochran's Q with its p-value.",
        ),
    ]


def _subgroup_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    primary = analysis.primary
    if not primary.level_params():
        return []
    m = analysis.data.measure
    out = [Block("h2", "Subgroups")]
    levels = []
    for fit in analysis.fits:
        table = fit.levels()
        for row in table.itertuples():
            est = fit._natural([row.estimate, row.low, row.high, row.pi_low, row.pi_high])
            levels.append(
                {
                    "subgroup": f"{row.moderator} = {row.level}",
                    "fit": fit.label,
                    m: est[0],
                    "ci_low": est[1],
                    "ci_high": est[2],
                    "pi_low": est[3],
                    "pi_high": est[4],
                    "pi": row.pi_kind,
                }
            )
    out.append(
        Block(
            "table",
            pd.DataFrame(levels).set_index("subgroup"),
            f"Mean {m} in each subgroup with its interval (confidence for frequentist fits, "
            "credible for Bayesian ones) and the prediction interval for a new setting.",
        )
    )
    contrasts = []
    for fit in analysis.fits:
        for row in fit.contrasts().itertuples():
            values = analysis.data.measure_info.difference_to_natural(
                [row.estimate, row.low, row.high]
            )
            contrasts.append(
                {
                    "contrast": f"{row.moderator}: {row.first} vs {row.second}",
                    "fit": fit.label,
                    f"ratio of {m}s" if analysis.data.is_ratio else "difference": values[0],
                    "ci_low": values[1],
                    "ci_high": values[2],
                    "p_value": row.p_value,
                    f"P({m}[first] < {m}[second])": row.p_first_lower,
                }
            )
    out.append(
        Block(
            "table",
            pd.DataFrame(contrasts).set_index("contrast"),
            "Every pair of subgroups (first vs second). p_value: frequentist test of no "
            f"difference; P({m}[first] < {m}[second]): posterior probability that the first "
            "subgroup's mean is lower.",
        )
    )
    for test in analysis.subgroup_tests:
        out.append(Block("p", test.sentence()))
    if analysis.subgroups is not None:
        sub = analysis.subgroups
        out.append(
            Block("table", sub.summary(), "Separate REML fits per subgroup (separate tau²).")
        )
    return out


def _nested_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    """The nested organ-count model: HR per stratum, contrasts with one organ, trend, and the
    naive population-as-subgroup analysis for comparison."""
    fit = analysis.nested
    if fit is None:
        return []
    level = analysis.primary.ci_level
    table = fit.strata(level, thresholds(analysis))
    contrasts = fit.contrasts(level)
    answer = "; ".join(
        probability_text(
            f"P(the benefit is smaller with {str(name).split(' vs ')[0]} organs than with 1)",
            float(row["P(smaller benefit)"]),
        )
        for name, row in contrasts.iterrows()
    )
    informed = fit.data.separately_informed()
    alone = [s for s in fit.data.strata if s not in informed]
    caveat = (
        f" No reported population isolates {', '.join(alone)} organs: "
        + ("that stratum is" if len(alone) == 1 else "those strata are")
        + " informed only through mixed populations and the composition prior, and "
        "the width of the intervals shows how little the data say there."
        if alone
        else ""
    )
    out = [
        Block("h2", "Benefit by number of metastatic organs"),
        Block(
            "p",
            "Does the benefit depend on the number of metastatic organs? Per stratum, from the "
            f"nested-population model ({fit.engine} engine): {fit.describe(level)} {answer}."
            + caveat,
        ),
        Block(
            "image",
            figures["nested"],
            f"HR by number of metastatic organs: posterior median, {level:.0%} credible interval "
            "(thick) and interval for a new cohort (thin); green: the naive estimate of each "
            "population ('≤ 2' drawn at 2 organs), which counts patients more than once.",
        ),
        Block(
            "table",
            table,
            f"HR per stratum (exactly 1, 2, 3, ≥ 4 organs): posterior median and {level:.0%} "
            "credible interval; pi = interval for a new cohort; probabilities of HR below each "
            "threshold, for the mean and for a new cohort.",
        ),
        Block(
            "table",
            contrasts,
            "Each stratum against one organ: ratio of HRs; P(smaller benefit) = P(HR of the "
            "stratum > HR with one organ).",
        ),
    ]
    trend = fit.trend_estimate(level)
    if trend is not None:
        out.append(
            Block(
                "p",
                f"Trend: each extra metastatic organ multiplies the HR by {trend['ratio per organ']:.2f} "
                f"({level:.0%} CrI {trend['ci_low']:.2f}–{trend['ci_high']:.2f}); probability that the "
                f"benefit shrinks with each organ: {format_probability(trend['P(ratio > 1)'])}.",
            )
        )
    if fit.idata is not None:
        out.append(
            Block(
                "table",
                fit.diagnostics(),
                "NUTS diagnostics of the nested model (R-hat ≤ 1.01, bulk ESS ≥ 400, no divergences).",
            )
        )
    out.append(
        Block(
            "table",
            fit.naive(level),
            "For comparison only — the naive analysis: each reported population a subgroup "
            "(REML), as if the populations did not overlap. A population of several strata "
            "(e.g. '≤ 3') describes a mix dominated by single-organ patients, not its largest "
            "stratum.",
        )
    )
    return out


def _comparison_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    primary, m = analysis.primary, analysis.data.measure
    out = [Block("h2", "Frequentist vs Bayesian")]
    if primary.design.intercept_only:
        out.append(
            Block(
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
                    "term": display_name(term, fit.design),
                    m: r.get(m, r["estimate"]),
                    "ci_low": r.get(f"{m} ci_low", r["ci_low"]),
                    "ci_high": r.get(f"{m} ci_high", r["ci_high"]),
                    "p_value": r["p_value"],
                }
            )
    out.append(
        Block(
            "table",
            pd.DataFrame(rows).set_index("model"),
            f"Coefficients as {m}s (intercept) and ratios of {m}s (moderators).",
        )
    )
    return out


def _truth_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
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
        Block("h2", "Recovery of the simulated truth"),
        Block("table", pd.DataFrame(rows).set_index("stratum")),
    ]


def _sensitivity_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    if analysis.sensitivity is None:
        return []
    m = analysis.data.measure
    out = [
        Block("h2", "Prior sensitivity"),
        Block(
            "table",
            analysis.sensitivity,
            f"Exact engine under each tau prior of the catalogue ({m} scale; tau on the log scale).",
        ),
    ]
    if "sensitivity" in figures:
        out.append(
            Block(
                "image",
                figures["sensitivity"],
                "Pooled estimate and prediction interval under each prior.",
            )
        )
    return out


def _ratio_first(table: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Ratio-scale columns first; log-scale estimate columns renamed ``log …``."""
    ratio = [c for c in (measure, f"{measure} ci_low", f"{measure} ci_high") if c in table]
    if not ratio:
        return table
    rest = [
        c
        for c in table.columns
        if c not in ratio and c not in ("estimate", "ci_low", "ci_high", "se")
    ]
    return table[ratio + rest]


def _influence_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    r = analysis.robustness
    if not any(
        key in r
        for key in ("leave_one_out_frequentist", "leave_one_out_bayesian", "influence", "gosh")
    ):
        return []
    m = analysis.data.measure
    out = [Block("h2", "Influence and leave-one-out")]
    if analysis.moderators:
        out.append(
            Block(
                "p",
                "Leave-one-out and GOSH are defined for models without moderators; the influence diagnostics below are for the meta-regression.",
            )
        )
    if "leave_one_out_bayesian" in r:
        out.append(
            Block(
                "table",
                _ratio_first(r["leave_one_out_bayesian"], m),
                f"{analysis.exact_fit.label} without each study (every row an exact refit).",
            )
        )
    if "leave_one_out_frequentist" in r:
        out.append(
            Block(
                "table",
                _ratio_first(r["leave_one_out_frequentist"], m),
                f"{analysis.comparator.label} without each study (as metafor's leave1out).",
            )
        )
    for name in ("leave_one_out", "baujat", "gosh"):
        if name in figures:
            out.append(
                Block(
                    "image",
                    figures[name],
                    {
                        "leave_one_out": "Pooled effect leaving out each study.",
                        "baujat": "Baujat plot.",
                        "gosh": "GOSH plot.",
                    }[name],
                )
            )
    if "influence" in r:
        table = r["influence"]
        flagged = [str(s) for s in table.index[table["influential"]]]
        out.append(
            Block(
                "table",
                table,
                "metafor's influence diagnostics: influential = |DFFITS| > 3√(p/(k−p)), Cook's distance beyond the χ²(p) median, hat > 3p/k or |DFBETAS| > 1.",
            )
        )
        out.append(
            Block(
                "p",
                f"Influential studies: {', '.join(flagged)}."
                if flagged
                else "No study is influential by metafor's rules.",
            )
        )
    return out


def _small_study_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    result = analysis.small_study
    if result is None:
        return []
    m, ratio = analysis.data.measure, analysis.data.is_ratio
    fit = result.fit
    out = [
        Block("h2", "Small-study effects and publication bias"),
        Block(
            "p",
            f"Do smaller studies report larger effects than larger ones? Asymmetry is examined in "
            f"the direction of {'lower' if result.favoured == 'lower' else 'higher'} {m if ratio else 'effects'} "
            f"(the direction small studies are assumed to favour). Every method below is computed "
            f"on the pooled model without moderators ({fit.label}); asymmetry can come from "
            "publication bias but also from heterogeneity related to study size, chance or the "
            "choice of measure, so these are checks, not a correction of the result.",
        ),
    ]
    if "funnel" in figures:
        out.append(
            Block(
                "image",
                figures["funnel"],
                "Contour-enhanced funnel plot: shaded regions are where a study would be "
                "significant (two-sided, around the null); hollow points are trim-and-fill's "
                "imputed studies.",
            )
        )
    out.append(Block("list", result.describe()))
    tests = result.tests()
    if len(tests):
        out.append(Block("table", tests, "Tests for funnel-plot asymmetry (two-sided p-values)."))
    adjusted = result.adjusted(analysis.spec.ci_level)
    out.append(
        Block(
            "table",
            _ratio_first(adjusted, m),
            f"Unadjusted and adjusted estimates side by side ({analysis.spec.ci_level:.0%} "
            "intervals; 'interval' says whether each is a confidence or a credible interval). "
            "PET and PEESE estimate the effect of an infinitely precise study.",
        )
    )
    if result.averaging is not None:
        avg = result.averaging
        out.append(
            Block(
                "table",
                avg.inclusion(),
                "Bayesian model averaging: prior and posterior probability of each component and "
                "its inclusion Bayes factor (posterior odds / prior odds).",
            )
        )
        models = avg.models()
        shown = models[["prior", "posterior", "median", "ci_low", "ci_high"]].copy()
        if ratio:
            for col in ("median", "ci_low", "ci_high"):
                shown[col] = np.exp(shown[col].to_numpy(dtype=float))
            shown = shown.rename(
                columns={"median": m, "ci_low": f"{m} ci_low", "ci_high": f"{m} ci_high"}
            )
        out.append(
            Block(
                "table",
                shown,
                "The 12 models (exact marginal likelihoods); each model's own posterior median "
                "and credible interval of the mean effect (1 for the no-effect models).",
            )
        )
        out += [Block("p", line) for line in avg.methods()]
    if result.bayesian_selection is not None:
        out.append(
            Block(
                "table",
                result.bayesian_selection.omega(),
                "Bayesian selection model: relative publication probability per one-sided "
                "p-value interval (posterior median and credible interval).",
            )
        )
    return out


def _cumulative_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    r = analysis.robustness
    if "cumulative_frequentist" not in r and "cumulative_bayesian" not in r:
        return []
    m = analysis.data.measure
    order = analysis.spec.cumulative.get("order", "year")
    out = [
        Block("h2", "Cumulative meta-analysis"),
        Block(
            "p", f"Studies added in order of {order}; each row is the fit of the studies so far."
        ),
    ]
    table = r.get("cumulative_bayesian")
    if table is not None:
        lines = [
            first_crossing(table, c)
            for c in table.columns
            if c.startswith("P(") and not c.startswith("P(new")
        ]
        out.append(Block("list", lines))
        out.append(
            Block("table", _ratio_first(table, m), f"{analysis.exact_fit.label}, after each study.")
        )
    if "cumulative_frequentist" in r:
        out.append(
            Block(
                "table",
                _ratio_first(r["cumulative_frequentist"], m),
                f"{analysis.comparator.label}, after each study (as metafor's cumul).",
            )
        )
    for name, caption in (
        ("cumulative", "Cumulative forest plot."),
        ("trajectory", "P(effect < threshold) after each study."),
    ):
        if name in figures:
            out.append(Block("image", figures[name], caption))
    return out


def _diagnostics_section(analysis: Any, figures: dict[str, str]) -> list[Block]:
    out = [Block("h2", "Diagnostics")]
    for fit in analysis.bayes.values():
        table = fit.diagnostics()
        if table is not None:
            out.append(
                Block(
                    "table",
                    table,
                    f"{fit.label} diagnostics (ArviZ): R-hat ≤ 1.01, bulk and tail ESS ≥ 400, no divergences, BFMI ≥ 0.3.",
                )
            )
    if analysis.agreement is not None:
        out.append(
            Block(
                "table",
                analysis.agreement,
                "NUTS vs exact engine, in Monte-Carlo standard errors (agrees: |z| ≤ 4).",
            )
        )
    if all(f.diagnostics() is None for f in analysis.bayes.values()):
        out.append(
            Block(
                "p",
                "The exact engine has no sampling diagnostics: its quadrature error is below 1e-8 on probabilities (tested against a grid twelve times finer).",
            )
        )
    return out


def headline(summary: dict[str, Any]) -> str:
    """One line for the index page: the primary fit's pooled effect (or per subgroup)."""
    fit = summary["bayesian"][summary["primary_engine"]]
    m = summary["measure"]
    ratio = fit["ratio"] or fit
    if fit["levels"]:
        parts = []
        for row in fit["levels"]:
            values = [row["estimate"], row["low"], row["high"]]
            if fit["ratio"]:
                values = list(np.exp(values))
            parts.append(
                f"{row['moderator']} = {row['level']}: {m} {values[0]:.2f} [{values[1]:.2f}, {values[2]:.2f}]"
            )
        return "; ".join(parts)
    return (
        f"pooled {m} {ratio['estimate']:.2f} [{ratio['ci_low']:.2f}, {ratio['ci_high']:.2f}] "
        f"({fit['interval']}); tau = {fit['tau']:.2f}; I² = {fit['i2']:.0f}%"
    )
