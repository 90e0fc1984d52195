"""Shared fixtures: pinned oracle values and small datasets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("HIERMETA_PROGRESS", "0")  # progress bars off in tests

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="session")
def metafor_reference() -> dict:
    """Values pinned from R/metafor by tests/reference/make_metafor_reference.R."""
    return json.loads((REFERENCE / "metafor_reference.json").read_text())


def make_iid_sampler(divergences: int = 0) -> tuple[list[dict], object]:
    """A NUTS sampler stand-in returning iid draws from the exact engine (injected with
    ``sampler=``): everything downstream of sampling can be tested without MCMC.

    Returns the list of recorded calls and the sampler.
    """
    import numpy as np
    import pandas as pd
    from arviz_base import from_dict

    import hiermeta as hm
    from hiermeta.engines.exact import fit_exact

    calls: list[dict] = []

    def sampler(entry, draws, tune, chains, target_accept, seed, progressbar):
        model = entry["model"]
        calls.append({"target_accept": target_accept, "tune": tune, "seed": seed})
        X = model["X"].get_value()
        frame = pd.DataFrame({"y": model["y"].get_value(), "se": model["se"].get_value()})
        has_beta = "beta" in model.named_vars
        names = [f"x{j}" for j in range(X.shape[1])] if has_beta else None
        if has_beta:
            frame = frame.assign(**{f"x{j}": X[:, j] for j in range(X.shape[1])})
        effects = hm.from_log_se(frame, y="y", se="se", covariates=names)
        d = fit_exact(effects, moderators=names).draws(chains * draws, random_seed=seed or 0)
        posterior = {
            "mu": d["beta"][:, 0].reshape(chains, draws),
            "tau": d["tau"].reshape(chains, draws),
        }
        if has_beta:
            posterior["beta"] = d["beta"][:, 1:].reshape(chains, draws, -1)
        if "theta" in model.named_vars:  # centred / non-centred structures sample theta
            posterior["theta"] = d["theta"].reshape(chains, draws, -1)
        diverging = np.zeros((chains, draws), dtype=bool)
        diverging.flat[:divergences] = True
        rng = np.random.default_rng(0)
        stats = {
            "diverging": diverging,
            "energy": rng.normal(size=(chains, draws)),
            "reached_max_treedepth": np.zeros((chains, draws), bool),
        }
        return from_dict({"posterior": posterior, "sample_stats": stats})

    return calls, sampler
