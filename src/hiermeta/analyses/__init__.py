"""Layer 4: analyses built on the result contract — prior sensitivity, exact-vs-NUTS
agreement, PSIS-LOO and model comparison, side-by-side comparison of fits, influence, nested subgroups,
small-study effects (regression and rank tests, trim-and-fill, PET-PEESE, selection models) and
exact Bayesian model averaging over bias models."""

from hiermeta.analyses.agreement import agreement
from hiermeta.analyses.bias_averaging import BiasAveraging, bias_averaging
from hiermeta.analyses.compare import compare
from hiermeta.analyses.influence import (
    Gosh,
    baujat,
    cumulative,
    first_crossing,
    gosh,
    influence,
    leave_one_out,
)
from hiermeta.analyses.loo import compare_loo, loo
from hiermeta.analyses.nested import NestedResult, nested_subgroups
from hiermeta.analyses.selection import (
    BayesianSelection,
    SelectionModel,
    bayesian_selection_model,
    selection_model,
)
from hiermeta.analyses.sensitivity import sensitivity
from hiermeta.analyses.small_study import (
    PetPeese,
    RankTest,
    RegressionTest,
    TrimFill,
    pet_peese,
    ranktest,
    regtest,
    trimfill,
)
from hiermeta.analyses.subgroup_test import SubgroupTest, subgroup_test

__all__ = [
    "BayesianSelection",
    "BiasAveraging",
    "Gosh",
    "NestedResult",
    "PetPeese",
    "RankTest",
    "RegressionTest",
    "SelectionModel",
    "SubgroupTest",
    "TrimFill",
    "agreement",
    "baujat",
    "bayesian_selection_model",
    "bias_averaging",
    "compare",
    "compare_loo",
    "cumulative",
    "first_crossing",
    "gosh",
    "influence",
    "leave_one_out",
    "loo",
    "nested_subgroups",
    "pet_peese",
    "ranktest",
    "regtest",
    "selection_model",
    "sensitivity",
    "subgroup_test",
    "trimfill",
]
