"""PSIS-LOO through ArviZ, with Pareto-k per study."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["compare_loo", "loo"]


def loo(result: Any) -> Any:
    """PSIS-LOO of a NUTS fit (ArviZ ``ELPDData``; ``.pareto_k`` per study).

    The log-likelihood is the marginal one, log N(y_i | x_i'β, s_i² + tau²): leaving a study
    out predicts a *new* study, which is what meta-analysis model comparison is about.
    """
    import arviz_stats as azs

    return azs.loo(result.idata, pointwise=True)


def compare_loo(results: dict[str, Any]) -> pd.DataFrame:
    """Compare models by expected log predictive density (ArviZ ``compare``)."""
    import arviz_stats as azs

    return azs.compare({name: r.idata for name, r in results.items()})
