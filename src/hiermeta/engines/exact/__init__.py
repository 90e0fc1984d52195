"""Layer 3 (numpy/scipy only): the exact posterior of the normal–normal model by quadrature."""

from hiermeta.engines.exact.engine import ExactResult, fit_exact, fit_exact_many

__all__ = ["ExactResult", "fit_exact", "fit_exact_many"]
