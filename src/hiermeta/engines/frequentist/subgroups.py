"""Per-subgroup pooled estimates and the test for subgroup differences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hiermeta.data.effects import EffectData
from hiermeta.engines.frequentist.model import FrequentistResult, frequentist
from hiermeta.errors import InputError
from hiermeta.results.intervals import jsonable, ratio_columns

__all__ = ["SubgroupResult", "subgroups"]


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Separate random-effects fits per subgroup and two tests of their difference.

    ``separate_tau2`` tests the subgroup estimates (each with its own tau²) for homogeneity
    with a fixed-effect Q (as RevMan and R's meta do); ``common_tau2`` is the omnibus test of
    the moderator in a meta-regression with one tau² (as metafor's ``rma(mods = ~ factor(g))``).
    """

    by: str
    fits: dict[str, FrequentistResult]
    regression: FrequentistResult
    q_between: float
    q_between_df: int
    q_between_p: float

    def summary(self, ci_level: float = 0.95) -> pd.DataFrame:
        """One row per subgroup: k, pooled estimate, CI, tau², I², ratio columns."""
        records = []
        for level, fit in self.fits.items():
            coef = fit.coefficients(ci_level).iloc[0]
            records.append(
                {
                    "subgroup": level,
                    "k": fit.k,
                    "estimate": coef.estimate,
                    "se": coef.se,
                    "ci_low": coef.ci_low,
                    "ci_high": coef.ci_high,
                    "tau2": fit.tau2,
                    "i2": fit.i2,
                }
            )
        frame = pd.DataFrame.from_records(records).set_index("subgroup")
        first = next(iter(self.fits.values()))
        return ratio_columns(frame, first.data.measure, first.data.is_ratio)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return jsonable(
            {
                "by": self.by,
                "subgroups": {name: fit.to_dict() for name, fit in self.fits.items()},
                "separate_tau2": {
                    "q": self.q_between,
                    "df": self.q_between_df,
                    "p": self.q_between_p,
                },
                "common_tau2": {
                    "qm": self.regression.qm,
                    "df": list(self.regression.qm_df),
                    "p": self.regression.qm_p,
                },
            }
        )


def subgroups(
    data: EffectData,
    by: str,
    method: str = "REML",
    ci: str = "wald",
    *,
    levels: Sequence[str] | None = None,
    ci_level: float = 0.95,
) -> SubgroupResult:
    """Pool each subgroup separately and test for subgroup differences.

    Parameters
    ----------
    data
        Studies with a categorical covariate ``by``.
    by
        The subgrouping covariate, e.g. ``"n_organs"``.
    method, ci
        As for :func:`hiermeta.engines.frequentist`.
    levels
        Level order (first = reference in the meta-regression).
    """
    if by not in data.covariates.columns:
        raise InputError(
            f"subgroup column {by!r} is not a covariate; covariates are {list(data.covariates.columns)}"
        )
    regression = frequentist(
        data,
        method=method,
        ci=ci,
        moderators=[by],
        levels={by: levels} if levels else None,
        ci_level=ci_level,
    )
    order = regression.design.term(by).levels
    fits = {}
    for level in order:
        subset = data.subset((data.covariates[by].astype(str) == level).to_numpy())
        fits[level] = frequentist(subset, method=method, ci=ci, ci_level=ci_level)
    est = np.array([f.estimate for f in fits.values()])
    var = np.array([f.se**2 for f in fits.values()])
    w = 1 / var
    pooled = np.sum(w * est) / np.sum(w)
    q = float(np.sum(w * (est - pooled) ** 2))
    df = len(est) - 1
    return SubgroupResult(
        by=by,
        fits=fits,
        regression=regression,
        q_between=q,
        q_between_df=df,
        q_between_p=float(stats.chi2.sf(q, df)),
    )
