"""Coverage of frequentist and Bayesian intervals in simulated meta-analyses.

For each number of studies k and true heterogeneity tau, meta-analyses are simulated with
true mean log HR ``mu`` and within-study SEs uniform on (0.1, 0.5) (log HRs of trials with
roughly 16 to 400 deaths), and we count how often each 95% interval contains the truth: the
mean effect for confidence/credible intervals, the true effect of one new study for prediction
intervals. Every fit runs through :func:`hiermeta.pipeline.batch` (so the study can use a Dask cluster
and resume), one task per replicate and interval family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.pipeline.batch import Task, batch, read_tasks
from hiermeta.pipeline.batch.rows import options_text

__all__ = ["INTERVALS", "coverage_study"]

#: interval name → (engine, options, which columns): "mean" = the CI/CrI of mu, "new" = the
#: prediction/predictive interval
INTERVALS: dict[str, tuple[str, dict[str, str], str]] = {
    "REML Wald CI": ("REML", {"ci": "wald", "pi_kind": "z"}, "mean"),
    "REML Knapp–Hartung CI": ("REML", {"ci": "knapp-hartung", "pi_kind": "z"}, "mean"),
    "DL Wald CI": ("DL", {"ci": "wald", "pi_kind": "z"}, "mean"),
    "PI z": ("REML", {"ci": "wald", "pi_kind": "z"}, "new"),
    "PI t-k-1": ("REML", {"ci": "wald", "pi_kind": "t-k-1"}, "new"),
    "PI t-k-2": ("REML", {"ci": "wald", "pi_kind": "t-k-2"}, "new"),
    "Bayes CrI (mu)": ("exact", {}, "mean"),
    "Bayes predictive": ("exact", {}, "new"),
}


def _simulate(
    ks: Sequence[int], taus: Sequence[float], replicates: int, mu: float, random_seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long table of every simulated meta-analysis, and the truth of each (mu, new study)."""
    studies, truth = [], []
    for k in ks:
        for tau in taus:
            rng = np.random.default_rng([random_seed, k, round(tau * 1000)])
            for r in range(replicates):
                se = rng.uniform(0.1, 0.5, k)
                theta = mu + tau * rng.standard_normal(k)
                y = theta + se * rng.standard_normal(k)
                new = mu + tau * rng.standard_normal()
                name = f"k{k}-tau{tau:g}-r{r}"
                studies.append(pd.DataFrame({"analysis": name, "y": y, "se": se}))
                truth.append((name, k, tau, mu, new))
    return pd.concat(studies, ignore_index=True), pd.DataFrame(
        truth, columns=["analysis", "cell_k", "cell_tau", "true_mu", "true_new"]
    )


def coverage_study(
    ks: Sequence[int] = (3, 5, 10, 30),
    taus: Sequence[float] = (0.0, 0.1, 0.3, 0.6),
    replicates: int = 1000,
    mu: float = float(np.log(0.8)),
    random_seed: int = 2024,
    scheduler: Any = None,
    out: Any = None,
) -> pd.DataFrame:
    """Coverage (%) of every 95% interval of :data:`INTERVALS` for each (k, tau).

    ``scheduler`` and ``out`` are passed to :func:`hiermeta.pipeline.batch` (a Dask cluster; a
    resumable folder).

    Returns
    -------
    DataFrame
        Index (k, tau), one column per interval, plus ``replicates`` and the Monte-Carlo
        standard error of a coverage of 95% (``mcse``, percentage points).
    """
    studies, truth = _simulate(ks, taus, replicates, mu, random_seed)
    datasets, _ = read_tasks(studies, "analysis", y="y", se="se")
    variants = {(engine, tuple(sorted(opts.items()))) for engine, opts, _ in INTERVALS.values()}
    tasks = [
        Task(
            task_id=f"{name}|{engine}|{'|'.join(v for _, v in opts)}",
            data=data,  # type: ignore[arg-type]
            engine=engine,
            options=opts,
            analysis=name,
        )
        for name, data in datasets.items()
        for engine, opts in sorted(variants)
    ]
    result = batch(tasks, scheduler=scheduler, out=out, progress=False)
    if not result.failures.empty:  # a failed fit is not a miss: the study would be wrong
        first = result.failures.iloc[0]
        raise RuntimeError(
            f"{len(result.failures)} coverage fits failed, e.g. {first.task_id}: {first.error}"
        )
    table = result.table.merge(truth, on="analysis")
    rows = []
    for (k, tau), cell in table.groupby(["cell_k", "cell_tau"], sort=True):
        row: dict[str, Any] = {"k": k, "tau": tau}
        for name, (engine, opts, which) in INTERVALS.items():
            wanted = options_text(opts)
            sub = cell[(cell["engine"] == engine) & (cell["options"].fillna("") == wanted)]
            target = np.exp(sub["true_mu"] if which == "mean" else sub["true_new"])
            if which == "mean":
                low, high = sub["effect_low"], sub["effect_high"]
            else:
                low, high = sub["pred_low"], sub["pred_high"]
            row[name] = 100 * float(np.mean((low <= target) & (target <= high)))
        row["replicates"] = replicates
        row["mcse"] = 100 * np.sqrt(0.95 * 0.05 / replicates)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["k", "tau"])
