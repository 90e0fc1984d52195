"""Simulation study of the nested organ-count subgroup model (issue 17).

``python -m hiermeta.validation.nested_study --out docs/validation`` writes
``nested_subgroups.md`` and ``nested_subgroups.png``: coverage and bias of the stratum HRs of
:func:`hiermeta.nested_subgroups` (exact engine with reported compositions; NUTS with the
compositions withheld), against the naive analysis that treats "1", "≤ 2", "≤ 3" and "all" as
independent subgroups.

Data-generating model (per meta-analysis): ``COHORTS`` cohorts of 150–1,500 patients whose
composition over 1 / 2 / 3 / ≥ 4 metastatic organs is drawn from a Dirichlet(20 × typical
composition); each stratum of each cohort has its own log-HR estimate (true stratum effect + a
cohort effect N(0, tau²) + sampling error with variance 4 / events, events = half the
patients); a cohort reports "all" and each of "1", "≤ 2", "≤ 3" with probability 0.6, each
population's estimate being the information-weighted mean of its strata's (how a stratified
Cox estimate pools) and its reported composition the patients' shares.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.analyses.nested import nested_subgroups
from hiermeta.data.nested import read_nested, simulate_nested
from hiermeta.pipeline.report.writer import markdown_table

__all__ = ["TRUE_HR", "nested_study"]

#: True HR of exactly 1, 2, 3 and ≥ 4 metastatic organs; between-cohort sd.
TRUE_HR = np.array([0.55, 0.70, 0.85, 1.00])
TAU = 0.10
COHORTS = 8
REPORT_PROB = 0.6


def _naive_reading(fit: Any) -> dict[int, tuple[float, float, float]]:
    """The naive analysis read as the stratum answer: "1" for 1 organ, "≤ 2" for 2, "≤ 3" for 3."""
    table = fit.naive()
    out = {}
    for population, top in (("1", 1), ("<=2", 2), ("<=3", 3)):
        if population in table.index:
            row = table.loc[population]
            out[top - 1] = (float(row["HR"]), float(row["ci_low"]), float(row["ci_high"]))
    return out


def nested_study(replicates: int, seed: int, engine: str = "exact", **nuts: Any) -> pd.DataFrame:
    """One row per replicate × stratum: the model's and the naive analysis's estimate and
    interval, and whether each interval covers the true HR."""
    rng = np.random.default_rng(seed)
    records = []
    for r in range(replicates):
        frame = simulate_nested(rng, tuple(TRUE_HR), TAU, COHORTS, REPORT_PROB)
        shares = ["share0", "share1", "share2", "share3"] if engine == "exact" else None
        data = read_nested(frame, y="y", se="se", shares=shares)
        fit = nested_subgroups(data, engine=engine, random_seed=seed + r, **nuts)
        table = fit.strata()
        naive = _naive_reading(fit)
        failed = fit.failed_checks() if engine == "nuts" else []
        for s in range(4):
            row = table.iloc[s]
            truth = TRUE_HR[s]
            record = {
                "replicate": r,
                "stratum": table.index[s],
                "hr": row["HR"],
                "covered": bool(row["ci_low"] <= truth <= row["ci_high"]),
                "width": float(np.log(row["ci_high"] / row["ci_low"])),
                "log_error": float(np.log(row["HR"] / truth)),
                "diagnostics_failed": bool(failed),
            }
            if s in naive:
                hr, low, high = naive[s]
                record.update(
                    naive_covered=bool(low <= truth <= high),
                    naive_width=float(np.log(high / low)),
                    naive_log_error=float(np.log(hr / truth)),
                )
            records.append(record)
    return pd.DataFrame(records)


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Coverage (%), median log error and mean width per stratum, model and naive."""
    rows = []
    for stratum, part in results.groupby("stratum", sort=False):
        naive = part.dropna(subset=["naive_covered"]) if "naive_covered" in part else part.iloc[:0]
        rows.append(
            {
                "stratum (organs)": stratum,
                "true HR": float(TRUE_HR[list(results["stratum"].unique()).index(stratum)]),
                "model coverage %": 100 * part["covered"].mean(),
                "model bias (log HR)": part["log_error"].mean(),
                "model width (log)": part["width"].mean(),
                "naive coverage %": 100 * naive["naive_covered"].astype(float).mean()
                if len(naive)
                else np.nan,
                "naive bias (log HR)": naive["naive_log_error"].astype(float).mean()
                if len(naive)
                else np.nan,
                "naive width (log)": naive["naive_width"].astype(float).mean()
                if len(naive)
                else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("stratum (organs)")


def _plot(results: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.2), layout="constrained")
    strata = list(results["stratum"].unique())
    for s, stratum in enumerate(strata):
        part = results[results["stratum"] == stratum]
        ax.scatter(
            np.full(len(part), s - 0.12)
            + 0.04 * np.random.default_rng(s).standard_normal(len(part)),
            part["hr"],
            s=4,
            alpha=0.3,
            color="#d62728",
        )
        if "naive_log_error" in part:
            naive = part.dropna(subset=["naive_log_error"])
            hr = TRUE_HR[s] * np.exp(naive["naive_log_error"].astype(float))
            ax.scatter(
                np.full(len(naive), s + 0.12)
                + 0.04 * np.random.default_rng(s + 9).standard_normal(len(naive)),
                hr,
                s=4,
                alpha=0.3,
                color="#2ca02c",
            )
        ax.hlines(TRUE_HR[s], s - 0.35, s + 0.35, color="black", lw=1.5)
    ax.scatter([], [], color="#d62728", s=10, label="nested model (median)")
    ax.scatter([], [], color="#2ca02c", s=10, label="naive: population '≤ s' read as s organs")
    ax.plot([], [], color="black", label="true HR")
    ax.set_xticks(range(len(strata)), [f"{s} organ{'s' if s != '1' else ''}" for s in strata])
    ax.set_yscale("log")
    ax.set_ylabel("HR")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _page(
    exact: pd.DataFrame,
    nuts: pd.DataFrame | None,
    seconds: dict[str, float],
    replicates: dict[str, int],
) -> str:
    mcse = 100 * np.sqrt(0.95 * 0.05 / replicates["exact"])
    lines = [
        "# Nested organ-count subgroups: simulation study",
        "",
        "Written by `python -m hiermeta.validation.nested_study --out docs/validation` (`make validate`); "
        "fixed seeds. Model: `hm.nested_subgroups` (docs/nested_subgroups.md).",
        "",
        f"**Design.** True HRs for exactly 1, 2, 3 and ≥ 4 metastatic organs: "
        f"{', '.join(f'{h:.2f}' for h in TRUE_HR)}; between-cohort sd tau = {TAU}. Each simulated "
        f"literature has {COHORTS} cohorts of 150–1,500 patients whose composition is drawn from a "
        "Dirichlet(20 × typical composition); each cohort reports 'all' and each of '1', '≤ 2', '≤ 3' with "
        f"probability {REPORT_PROB}. A population's estimate is the information-weighted mean of its strata's "
        "(events = half the patients, variance 4 / events), so populations of one cohort share patients. "
        "The simulation follows the model's own approximation (log HRs average over strata); "
        "non-collapsibility of the HR is not simulated.",
        "",
        "**Naive analysis.** What is usually done: the populations as levels of one categorical moderator "
        "(REML, independent estimates), and the '≤ 2' HR read as the answer for 2 organs, '≤ 3' for 3.",
        "",
        f"## Compositions reported: exact engine, {replicates['exact']} literatures ({seconds['exact']:.0f} s)",
        "",
        f"Monte-Carlo SE of a 95% coverage: {mcse:.1f} points.",
        "",
        markdown_table(summary_table(exact).round(3)),
        "",
        "![estimates](nested_subgroups.png)",
        "",
    ]
    if nuts is not None:
        n = replicates["nuts"]
        failed = nuts.groupby("replicate")["diagnostics_failed"].first().sum()
        lines += [
            f"## Compositions withheld: NUTS, Dirichlet prior integrated out by its moments, {n} literatures ({seconds['nuts']:.0f} s)",
            "",
            f"Monte-Carlo SE of a 95% coverage: {100 * np.sqrt(0.95 * 0.05 / n):.1f} points. "
            f"Fits with a failed diagnostic (R-hat, ESS, divergences): {failed} of {n}.",
            "",
            markdown_table(summary_table(nuts).round(3)),
            "",
        ]
    lines += [
        "## Reading",
        "",
        "The nested model's 95% intervals cover each stratum's true HR at close to the nominal rate and "
        "its estimates are centred on the truth. The naive reading misses the clinical question: the '≤ 2' "
        "and '≤ 3' populations are dominated by single-organ patients, so their HRs sit near the 1-organ "
        "effect and their intervals — narrow, because each population's patients are counted again in "
        "the next — rarely contain the true effect for exactly 2 or 3 organs.",
        "",
    ]
    if nuts is not None:
        lines += [WITHHELD_READING, ""]
    return "\n".join(lines)


#: The reading of the withheld-compositions study (its table gives the numbers).
WITHHELD_READING = "With the compositions withheld the model leans on their prior: its intervals are wider, and small biases appear where the prior dominates (≥ 4 organs, which only the 'all' populations inform, is pulled towards the prior mean); its coverage stays within two Monte-Carlo SEs of 95%, while the naive reading misses 2 and 3 organs as before."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/validation")
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument("--nuts-replicates", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    seconds, replicates = {}, {"exact": args.replicates, "nuts": args.nuts_replicates}
    start = time.perf_counter()
    exact = nested_study(args.replicates, args.seed)
    seconds["exact"] = time.perf_counter() - start
    nuts = None
    if args.nuts_replicates:
        start = time.perf_counter()
        nuts = nested_study(
            args.nuts_replicates, args.seed + 1, engine="nuts", draws=1000, tune=1000, chains=2
        )
        seconds["nuts"] = time.perf_counter() - start
    _plot(exact, out / "nested_subgroups.png")
    (out / "nested_subgroups.md").write_text(
        _page(exact, nuts, seconds, replicates), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
