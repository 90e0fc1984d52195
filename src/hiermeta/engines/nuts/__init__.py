"""Layer 3: PyMC models. Importing this package does not import PyMC; ``fit_nuts`` does."""

from typing import Any

__all__ = ["fit_nuts"]


def fit_nuts(*args: Any, **kwargs: Any) -> Any:
    """Fit with PyMC's NUTS; see :func:`hiermeta.engines.nuts.engine.fit_nuts`."""
    from hiermeta.engines.nuts.engine import fit_nuts as _fit

    return _fit(*args, **kwargs)
