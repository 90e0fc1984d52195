"""Exceptions and warnings raised by hiermeta.

Every message names what is wrong and where: the study (or row), the column or key, the
offending value, and the valid options when there is a fixed set of them.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AsymmetricCIWarning",
    "ConvergenceWarning",
    "ExcludedStudiesWarning",
    "HiermetaWarning",
    "InputError",
    "RemedyWarning",
    "SpecError",
    "check_level",
    "unknown_option",
]


class InputError(ValueError):
    """Input data or arguments that cannot be right.

    A ``ValueError`` so that generic handlers keep working; the message always names the study,
    column, key or argument and the offending value.
    """


class SpecError(InputError):
    """An analysis spec (TOML) with an unknown key, a missing key or a bad value."""


class HiermetaWarning(UserWarning):
    """Base class of hiermeta's warnings."""


class ConvergenceWarning(HiermetaWarning):
    """MCMC diagnostics failed (R-hat, ESS, divergences, BFMI, tree depth); the message names them."""


class RemedyWarning(HiermetaWarning):
    """A sampling attempt failed its diagnostics and is retried with other settings."""


class AsymmetricCIWarning(HiermetaWarning):
    """A confidence interval is not symmetric on the log scale beyond rounding."""


class ExcludedStudiesWarning(HiermetaWarning):
    """Rows were excluded because they cannot enter an inverse-variance model."""


def unknown_option(what: str, value: object, valid: Iterable[str]) -> InputError:
    """Build the error for an unknown name, listing the valid ones.

    Parameters
    ----------
    what
        What kind of name it is, e.g. ``"method"``.
    value
        The name that was given.
    valid
        The accepted names.
    """
    options = ", ".join(repr(v) for v in valid)
    hint = ""
    if isinstance(value, str):
        import difflib

        by_lower = {str(v).lower(): v for v in valid}
        close = difflib.get_close_matches(value.lower(), list(by_lower), n=1, cutoff=0.5)
        if close:
            hint = f" Did you mean {by_lower[close[0]]!r}?"
    return InputError(f"unknown {what} {value!r}; valid options are {options}.{hint}")


def check_level(level: object, name: str = "ci_level") -> float:
    """Validate an interval level given as a fraction."""
    try:
        value = float(level)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name} {level!r} is not a number; use e.g. 0.95") from None
    if not 0 < value < 1:
        hint = f" Did you mean {value / 100:g}?" if 50 <= value < 100 else ""  # a percentage
        raise InputError(f"{name} must lie in (0, 1); got {level!r}.{hint}")
    return value
