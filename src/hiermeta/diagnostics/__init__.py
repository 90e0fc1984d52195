"""Layer 4: ArviZ diagnostics, exact-vs-MCMC agreement, LOO and prior sensitivity."""

from hiermeta.diagnostics.agreement import agreement
from hiermeta.diagnostics.checks import check, failed_checks
from hiermeta.diagnostics.loo import compare_loo, loo
from hiermeta.diagnostics.sensitivity import sensitivity

__all__ = ["agreement", "check", "compare_loo", "failed_checks", "loo", "sensitivity"]
