"""hiermeta: Bayesian hierarchical meta-analysis with PyMC, ArviZ and an exact engine.

``import hiermeta`` is fast: PyMC is imported only when a NUTS fit is asked for, and
matplotlib only when a plot or report is made (``hm.report``).

The package is layered (each layer imports only from those above it in this list; CI checks
it with ``tools/check_layers.py``): ``errors`` → ``data`` → ``results`` (the one result
contract) → ``priors`` → ``engines`` (frequentist, exact, nuts; by name in
``engines.registry``) → ``analyses`` → ``pipeline`` (specs, reports, batches) →
``validation`` → ``cli``. The functions below are the public API.
"""

from typing import Any

from hiermeta import priors
from hiermeta._version import __version__
from hiermeta.analyses import (
    BiasAveraging,
    Gosh,
    NestedResult,
    PetPeese,
    RankTest,
    RegressionTest,
    SelectionModel,
    SubgroupTest,
    TrimFill,
    agreement,
    baujat,
    bayesian_selection_model,
    bias_averaging,
    compare,
    compare_loo,
    cumulative,
    first_crossing,
    gosh,
    influence,
    leave_one_out,
    loo,
    nested_subgroups,
    pet_peese,
    ranktest,
    regtest,
    selection_model,
    sensitivity,
    subgroup_test,
    trimfill,
)
from hiermeta.data import (
    MEASURES,
    EffectData,
    NestedData,
    datasets,
    from_2x2,
    from_correlations,
    from_events,
    from_log_se,
    from_means,
    from_oe_v,
    from_proportions,
    from_ratio_ci,
    from_ratio_p,
    load_dataset,
    load_effects,
    read_nested,
    simulate_nested,
)
from hiermeta.data.convert import CONVERTERS, convert
from hiermeta.data.revman import read_revman, revman_effects
from hiermeta.data.simulate import simulate
from hiermeta.engines.api import bayesian
from hiermeta.engines.exact.engine import ExactResult
from hiermeta.engines.frequentist import (
    ClassicResult,
    FrequentistResult,
    SubgroupResult,
    frequentist,
    mantel_haenszel,
    peto,
    subgroups,
)
from hiermeta.engines.nuts.engine import NutsResult
from hiermeta.engines.registry import ENGINES
from hiermeta.errors import (
    AsymmetricCIWarning,
    ConvergenceWarning,
    ExcludedStudiesWarning,
    HiermetaWarning,
    InputError,
    RemedyWarning,
    SpecError,
)
from hiermeta.pipeline.batch import BatchResult, Task, batch
from hiermeta.pipeline.batch.api import BatchWarning
from hiermeta.pipeline.run import Analysis, run_spec
from hiermeta.pipeline.spec import Spec, load_spec, spec_from_dict
from hiermeta.pipeline.spec import read_csv_checked as read_csv
from hiermeta.results.contract import Estimate, Heterogeneity, MetaResult
from hiermeta.results.posterior import BayesianResult

__all__ = [
    "CONVERTERS",
    "ENGINES",
    "MEASURES",
    "Analysis",
    "AsymmetricCIWarning",
    "BatchResult",
    "BatchWarning",
    "BayesianResult",
    "BiasAveraging",
    "ClassicResult",
    "ConvergenceWarning",
    "EffectData",
    "Estimate",
    "ExactResult",
    "ExcludedStudiesWarning",
    "FrequentistResult",
    "Gosh",
    "Heterogeneity",
    "HiermetaWarning",
    "InputError",
    "MetaResult",
    "NestedData",
    "NestedResult",
    "NutsResult",
    "PetPeese",
    "RankTest",
    "RegressionTest",
    "RemedyWarning",
    "SelectionModel",
    "Spec",
    "SpecError",
    "SubgroupResult",
    "SubgroupTest",
    "Task",
    "TrimFill",
    "__version__",
    "agreement",
    "batch",
    "baujat",
    "bayesian",
    "bayesian_selection_model",
    "bias_averaging",
    "compare",
    "compare_loo",
    "convert",
    "cumulative",
    "datasets",
    "first_crossing",
    "frequentist",
    "from_2x2",
    "from_correlations",
    "from_events",
    "from_log_se",
    "from_means",
    "from_oe_v",
    "from_proportions",
    "from_ratio_ci",
    "from_ratio_p",
    "gosh",
    "influence",
    "leave_one_out",
    "load_dataset",
    "load_effects",
    "load_spec",
    "loo",
    "mantel_haenszel",
    "nested_subgroups",
    "pet_peese",
    "peto",
    "priors",
    "ranktest",
    "read_csv",
    "read_nested",
    "read_revman",
    "regtest",
    "report",
    "revman_effects",
    "run_spec",
    "selection_model",
    "sensitivity",
    "simulate",
    "simulate_nested",
    "spec_from_dict",
    "subgroup_test",
    "subgroups",
    "trimfill",
]


def __getattr__(name: str) -> Any:
    """Lazy submodules: ``hm.report`` imports matplotlib on first use."""
    if name == "report":
        import importlib

        return importlib.import_module("hiermeta.pipeline.report")
    raise AttributeError(f"module 'hiermeta' has no attribute {name!r}")
