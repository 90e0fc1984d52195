"""Frequentist random-effects meta-analysis and meta-regression (metafor's ``rma.uni``)."""

from hiermeta.engines.frequentist.classic import ClassicResult, mantel_haenszel, peto
from hiermeta.engines.frequentist.model import FrequentistResult, frequentist
from hiermeta.engines.frequentist.subgroups import SubgroupResult, subgroups
from hiermeta.engines.frequentist.tau2 import TAU2_METHODS

__all__ = [
    "TAU2_METHODS",
    "ClassicResult",
    "FrequentistResult",
    "SubgroupResult",
    "frequentist",
    "mantel_haenszel",
    "peto",
    "subgroups",
]
