"""The test for subgroup differences, frequentist and Bayesian, for one categorical moderator.

Frequentist (as metafor and Cochrane reviews report it): the omnibus test of the moderator in
a REML meta-regression (common tau², ``QM``), and Cochran's Q between subgroups fitted
separately (separate tau²). Bayesian counterpart: the Bayes factor BF01 of "no subgroup
differences" (intercept-only model) against the moderator model, from the exact engine's
marginal likelihoods under the same priors — no Monte-Carlo error. It is undefined (NaN) under
an improper prior on mu.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from hiermeta.data.effects import EffectData
from hiermeta.engines.exact.engine import fit_exact
from hiermeta.engines.frequentist import frequentist, subgroups
from hiermeta.priors import MuPrior, TauPrior
from hiermeta.priors.defaults import default_mu, default_tau
from hiermeta.results.intervals import p_value_text

__all__ = ["SubgroupTest", "subgroup_test"]


class SubgroupTest(NamedTuple):
    """Test for subgroup differences (see the module notes)."""

    moderator: str
    qm: float
    qm_df: int
    qm_p: float
    q_between: float
    q_between_df: int
    q_between_p: float
    bf01: float

    def sentence(self) -> str:
        """The test in words."""
        bf = (
            "undefined (improper prior)"
            if np.isnan(self.bf01)
            else f"{self.bf01:.3g} ({'favours no difference' if self.bf01 > 1 else 'favours differences'})"
        )
        return (
            f"Test for subgroup differences by {self.moderator}: QM = {self.qm:.2f} "
            f"(df = {self.qm_df}, p {p_value_text(self.qm_p)}; REML meta-regression, common tau²); "
            f"Q between = {self.q_between:.2f} (df = {self.q_between_df}, p {p_value_text(self.q_between_p)}; "
            f"separate tau²); Bayes factor BF01 for no subgroup differences = {bf}."
        )


def subgroup_test(
    data: EffectData,
    moderator: str,
    *,
    mu_prior: MuPrior | None = None,
    tau_prior: TauPrior | None = None,
    beta_prior: MuPrior | None = None,
    levels: Sequence[str] | None = None,
) -> SubgroupTest:
    """Frequentist and Bayesian tests of whether the effect differs between subgroups."""
    level_map = {moderator: list(levels)} if levels else None
    reml = frequentist(data, "REML", moderators=[moderator], levels=level_map)
    separate = subgroups(data, by=moderator, method="REML", levels=levels)
    mu_prior, tau_prior = mu_prior or default_mu(data), tau_prior or default_tau(data)
    with_groups = fit_exact(
        data, mu_prior, tau_prior, [moderator], beta_prior=beta_prior, levels=level_map
    )
    without = fit_exact(data, mu_prior, tau_prior)
    bf01 = without.marginal_likelihood / with_groups.marginal_likelihood
    return SubgroupTest(
        moderator=moderator,
        qm=reml.qm,
        qm_df=int(reml.qm_df[0]),
        qm_p=reml.qm_p,
        q_between=separate.q_between,
        q_between_df=int(separate.q_between_df),
        q_between_p=separate.q_between_p,
        bf01=float(bf01),
    )
