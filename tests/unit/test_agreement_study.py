"""The agreement calibration machinery (its full run is `python -m hiermeta.validation.nuts_study`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hiermeta.analyses.agreement import AGREEMENT_Z
from hiermeta.validation.agreement_study import agreement_z_scores, false_alarm_table


def test_iid_draws_give_finite_z_scores_and_a_monotone_false_alarm_table() -> None:
    z = agreement_z_scores(replicates=3, chains=2, draws=500, random_seed=1)
    assert z.shape == (3, 11) and np.isfinite(z.to_numpy()).all()
    table = false_alarm_table(z)
    assert (np.diff(table["per fit"]) <= 0).all() and (np.diff(table["per quantity"]) <= 0).all()
    assert AGREEMENT_Z in table.index  # the chosen threshold is one of the table's rows


def test_false_alarm_rates_count_quantities_and_fits() -> None:
    z = pd.DataFrame({"a": [0.0, 5.0, 0.0, 0.0], "b": [0.0, 5.0, 6.0, 0.0]})
    table = false_alarm_table(z, (4.0,))
    assert table.loc[4.0, "per quantity"] == 3 / 8
    assert table.loc[4.0, "per fit"] == 2 / 4


def test_clopper_pearson_matches_its_closed_form_at_zero_events() -> None:
    """With no events the exact upper limit is 1 − (α/2)^(1/n) (and the lower limit 0); with all
    events, the mirror image."""
    from hiermeta.validation.nuts_study import _clopper_pearson

    low, high = _clopper_pearson(0, 10)
    assert low == 0.0 and abs(high - (1 - 0.025 ** (1 / 10))) < 1e-12
    low, high = _clopper_pearson(10, 10)
    assert high == 1.0 and abs(low - 0.025 ** (1 / 10)) < 1e-12
