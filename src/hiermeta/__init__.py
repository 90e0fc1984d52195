"""hiermeta: Bayesian hierarchical meta-analysis with PyMC, ArviZ and an exact engine.

``import hiermeta`` is fast: the PyMC layer is imported only when a NUTS fit is asked for.
"""

from hiermeta import priors
from hiermeta.bayesian import bayesian
from hiermeta.data import (
    EffectData,
    datasets,
    from_2x2,
    from_log_se,
    from_oe_v,
    from_ratio_ci,
    from_ratio_p,
    load_dataset,
    load_effects,
)
from hiermeta.errors import ConvergenceWarning, InputError, SpecError
from hiermeta.frequentist import frequentist, subgroups

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "EffectData",
    "InputError",
    "SpecError",
    "__version__",
    "datasets",
    "frequentist",
    "from_2x2",
    "from_log_se",
    "from_oe_v",
    "from_ratio_ci",
    "from_ratio_p",
    "load_dataset",
    "load_effects",
    "priors",
    "bayesian",
    "subgroups",
]

from hiermeta.diagnostics import agreement, sensitivity  # noqa: E402
