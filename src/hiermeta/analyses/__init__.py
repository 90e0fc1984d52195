"""Layer 4: analyses built on the result contract — prior sensitivity, exact-vs-NUTS
agreement, PSIS-LOO and model comparison, side-by-side comparison of fits."""

from hiermeta.analyses.agreement import agreement
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
from hiermeta.analyses.sensitivity import sensitivity
from hiermeta.analyses.subgroup_test import SubgroupTest, subgroup_test

__all__ = [
    "Gosh",
    "NestedResult",
    "SubgroupTest",
    "agreement",
    "baujat",
    "compare",
    "compare_loo",
    "cumulative",
    "first_crossing",
    "gosh",
    "influence",
    "leave_one_out",
    "loo",
    "nested_subgroups",
    "sensitivity",
    "subgroup_test",
]
