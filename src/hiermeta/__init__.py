"""hiermeta: Bayesian hierarchical meta-analysis with PyMC, ArviZ and an exact engine.

``import hiermeta`` is fast: PyMC is imported only when a NUTS fit is asked for, and
matplotlib only when a plot or report is made (``hm.report``).
"""

from typing import Any

from hiermeta import priors
from hiermeta.batch import BatchResult, Task, batch
from hiermeta.bayesian import bayesian
from hiermeta.compare import compare
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
from hiermeta.diagnostics import agreement, sensitivity
from hiermeta.errors import ConvergenceWarning, InputError, SpecError
from hiermeta.frequentist import frequentist, subgroups
from hiermeta.simulate import simulate

__version__ = "0.1.0"

__all__ = [
    "BatchResult",
    "ConvergenceWarning",
    "EffectData",
    "InputError",
    "SpecError",
    "Task",
    "__version__",
    "agreement",
    "batch",
    "bayesian",
    "compare",
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
    "report",
    "sensitivity",
    "simulate",
    "subgroups",
]


def __getattr__(name: str) -> Any:
    """Lazy submodules: ``hm.report`` imports matplotlib on first use."""
    if name == "report":
        import importlib

        return importlib.import_module("hiermeta.report")
    raise AttributeError(f"module 'hiermeta' has no attribute {name!r}")
