"""Layer 4: analyses built on the result contract — prior sensitivity, exact-vs-NUTS
agreement, PSIS-LOO and model comparison, side-by-side comparison of fits."""

from hiermeta.analyses.agreement import agreement
from hiermeta.analyses.compare import compare
from hiermeta.analyses.loo import compare_loo, loo
from hiermeta.analyses.sensitivity import sensitivity
from hiermeta.analyses.subgroup_test import SubgroupTest, subgroup_test

__all__ = [
    "SubgroupTest",
    "agreement",
    "compare",
    "compare_loo",
    "loo",
    "sensitivity",
    "subgroup_test",
]
