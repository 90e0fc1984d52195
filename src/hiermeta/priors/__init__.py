"""Layer 2: priors on tau, on the mean effect and on coefficients, and the prior catalogue.

Each family is one class (:mod:`hiermeta.priors.families`) that says what every engine needs
from it: ``logpdf`` for the exact engine, ``conjugate`` for its analytic integration over the
mean, ``to_pymc`` for the NUTS engine. Defining the class registers its family name for
:func:`from_spec` and prior strings such as ``"halfcauchy(0.5)"``.
"""

from hiermeta.priors.families import (
    DEFAULT_MU,
    DEFAULT_TAU,
    Exponential,
    Flat,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    InverseGamma,
    Jeffreys,
    LogNormalTau2,
    LogTTau2,
    MuPrior,
    Normal,
    StudentT,
    TauPrior,
    Uniform,
    catalogue,
    from_spec,
)

__all__ = [
    "DEFAULT_MU",
    "DEFAULT_TAU",
    "Exponential",
    "Flat",
    "HalfCauchy",
    "HalfNormal",
    "HalfStudentT",
    "InverseGamma",
    "Jeffreys",
    "LogNormalTau2",
    "LogTTau2",
    "MuPrior",
    "Normal",
    "StudentT",
    "TauPrior",
    "Uniform",
    "catalogue",
    "from_spec",
]
