"""Layer 1: effect-size input, design matrices and bundled datasets (numpy/pandas/scipy only)."""

from hiermeta.data.convert import (
    from_2x2,
    from_correlations,
    from_events,
    from_log_se,
    from_means,
    from_oe_v,
    from_proportions,
    from_ratio_ci,
    from_ratio_p,
)
from hiermeta.data.datasets import datasets, load_dataset, load_effects
from hiermeta.data.design import Design, build_design
from hiermeta.data.effects import EffectData
from hiermeta.data.measures import MEASURES, Measure, get_measure
from hiermeta.data.nested import NestedData, read_nested, simulate_nested

__all__ = [
    "MEASURES",
    "Design",
    "EffectData",
    "Measure",
    "NestedData",
    "build_design",
    "datasets",
    "from_2x2",
    "from_correlations",
    "from_events",
    "from_log_se",
    "from_means",
    "from_oe_v",
    "from_proportions",
    "from_ratio_ci",
    "from_ratio_p",
    "get_measure",
    "load_dataset",
    "load_effects",
    "read_nested",
    "simulate_nested",
]
