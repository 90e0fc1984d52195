"""Layer 1: effect-size input, design matrices and bundled datasets (numpy/pandas/scipy only)."""

from hiermeta.data.convert import from_2x2, from_log_se, from_oe_v, from_ratio_ci, from_ratio_p
from hiermeta.data.datasets import datasets, load_dataset, load_effects
from hiermeta.data.design import Design, build_design
from hiermeta.data.effects import EffectData

__all__ = [
    "Design",
    "EffectData",
    "build_design",
    "datasets",
    "from_2x2",
    "from_log_se",
    "from_oe_v",
    "from_ratio_ci",
    "from_ratio_p",
    "load_dataset",
    "load_effects",
]
