"""Frequentist random-effects meta-analysis and meta-regression (metafor's ``rma.uni``)."""

from hiermeta.frequentist.model import FrequentistResult, frequentist
from hiermeta.frequentist.subgroups import SubgroupResult, subgroups
from hiermeta.frequentist.tau2 import TAU2_METHODS

__all__ = ["TAU2_METHODS", "FrequentistResult", "SubgroupResult", "frequentist", "subgroups"]
