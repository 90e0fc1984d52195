"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

Draw (mu, tau) from the prior, simulate a meta-analysis, fit it, and record the rank of the
true value among L posterior draws. If the engine computes the posterior correctly the ranks
are uniform on {0, …, L}; we test uniformity with a chi-square test on equal-width bins.
Every fit runs through :func:`hiermeta.pipeline.batch` with its posterior kept (in blocks, so that
memory stays bounded), so the study can run on a Dask cluster.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from hiermeta.data.convert import from_log_se
from hiermeta.engines.registry import get_engine
from hiermeta.pipeline.batch import BatchWarning, Task, batch
from hiermeta.priors import DEFAULT_MU, DEFAULT_TAU, MuPrior, TauPrior

__all__ = ["NUTS_SBC_OPTIONS", "sbc_ranks", "uniformity_pvalue"]

#: Short chains (2 × 500) by design: SBC judges calibration over many fits, so a single fit's
#: ESS below 400 is expected (its row says "not converged"; that is not the point here).
NUTS_SBC_OPTIONS = {"draws": 500, "tune": 1000, "chains": 2, "remedies": False, "sampler": "nutpie"}
#: Replicates fitted per call of :func:`hiermeta.pipeline.batch` (posteriors of one block in memory).
BLOCK = 100


def _simulate(
    replicates: int,
    k_range: tuple[int, int],
    mu_prior: MuPrior,
    tau_prior: TauPrior,
    moderator: bool,
    rng: np.random.Generator,
) -> list[tuple[Any, dict[str, float]]]:
    out = []
    for _ in range(replicates):
        k = int(rng.integers(k_range[0], k_range[1] + 1))
        mu = float(rng.normal(mu_prior.mean, mu_prior.sd))  # type: ignore[attr-defined]
        tau = float(tau_prior.rvs(1, rng)[0])
        slope = float(rng.normal(0, 1)) if moderator else 0.0
        x = rng.uniform(-1, 1, k)
        se = rng.uniform(0.1, 0.6, k)
        y = mu + slope * x + tau * rng.standard_normal(k) + se * rng.standard_normal(k)
        data = from_log_se(
            pd.DataFrame({"y": y, "se": se, "x": x}), y="y", se="se", covariates=["x"]
        )
        out.append((data, {"k": k, "mu": mu, "tau": tau, "slope": slope}))
    return out


def _thinned(values: np.ndarray, draws: int) -> np.ndarray:
    flat = values.reshape(-1)
    return flat[np.linspace(0, flat.size - 1, draws).astype(int)]


def sbc_ranks(
    engine: str = "exact",
    replicates: int = 200,
    draws: int = 99,
    k_range: tuple[int, int] = (3, 12),
    mu_prior: MuPrior = DEFAULT_MU,
    tau_prior: TauPrior = DEFAULT_TAU,
    moderator: bool = False,
    random_seed: int = 2024,
    nuts_options: Mapping[str, Any] | None = None,
    scheduler: Any = None,
) -> pd.DataFrame:
    """Ranks of the true mu, tau (and a slope) among ``draws`` posterior draws, one row per
    replicate.

    Parameters
    ----------
    engine
        ``"exact"`` (iid draws) or ``"nuts"`` (draws thinned evenly from the chains; options
        :data:`NUTS_SBC_OPTIONS` unless ``nuts_options`` is given).
    moderator
        Simulate and fit a slope on a covariate ``x`` as well (meta-regression).
    scheduler
        Passed to :func:`hiermeta.pipeline.batch` (e.g. a ``distributed.Client``).
    """
    rng = np.random.default_rng(random_seed)
    cases = _simulate(replicates, k_range, mu_prior, tau_prior, moderator, rng)
    options = dict(NUTS_SBC_OPTIONS if nuts_options is None else nuts_options)
    rows = []
    for start in range(0, replicates, BLOCK):
        block = cases[start : start + BLOCK]
        tasks = [
            Task(
                task_id=f"sbc-{start + i}",
                data=data,
                engine=engine,
                mu_prior=mu_prior,
                tau_prior=tau_prior,
                moderators=("x",) if moderator else (),
                options=options if get_engine(engine).options else {},
            )
            for i, (data, _) in enumerate(block)
        ]
        with warnings.catch_warnings():
            # short NUTS chains fail the single-fit ESS check by design (see NUTS_SBC_OPTIONS);
            # failed fits are not ignored: they raise below
            warnings.simplefilter("ignore", BatchWarning)
            result = batch(
                tasks,
                posteriors=True,
                random_seed=random_seed,
                scheduler=scheduler,
                progress=False,
            )
        failed = result.failures
        if not failed.empty:
            raise RuntimeError(
                f"SBC fits failed: {failed[['task_id', 'error']].to_dict('records')[:3]}"
            )
        for task, (_, truth) in zip(tasks, block, strict=True):
            post = result.posterior(task.task_id).posterior
            row = {
                "k": truth["k"],
                "mu": int(np.sum(_thinned(post["mu"].values, draws) < truth["mu"])),
                "tau": int(np.sum(_thinned(post["tau"].values, draws) < truth["tau"])),
            }
            if moderator:
                slope = post["beta"].values[..., 0]
                row["slope"] = int(np.sum(_thinned(slope, draws) < truth["slope"]))
            rows.append(row)
    return pd.DataFrame(rows)


def uniformity_pvalue(ranks: ArrayLike, draws: int = 99, bins: int = 10) -> float:
    """Chi-square test that ranks in {0, …, draws} are uniform (equal-width bins)."""
    edges = np.linspace(0, draws + 1, bins + 1)
    counts, _ = np.histogram(np.asarray(ranks), bins=edges)
    return float(stats.chisquare(counts).pvalue)
