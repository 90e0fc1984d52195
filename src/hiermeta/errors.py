"""Exceptions and warnings raised by hiermeta.

Every message names what is wrong and where: the study (or row), the column or key, the
offending value, and the valid options when there is a fixed set of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

__all__ = [
    "AsymmetricCIWarning",
    "ConvergenceWarning",
    "ExcludedStudiesWarning",
    "HiermetaWarning",
    "InputError",
    "RemedyWarning",
    "SpecError",
    "check_count",
    "check_level",
    "check_number",
    "check_seed",
    "check_thresholds",
    "printable",
    "spreadsheet_safe",
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


def _is_real(value: object) -> bool:
    """A real number (Python or numpy), not a bool and not text."""
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(name: str, value: object, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite real number strictly between ``low`` and ``high`` (text such as "0.5" is not
    read as a number: the same value must mean the same thing on every input path)."""
    if not _is_real(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise InputError(f"{name} must be a finite number; got {value!r}")
    number = float(value)  # type: ignore[arg-type]
    if not low < number < high:
        bounds = (
            f"above {low:g}"
            if high == math.inf
            else f"below {high:g}"
            if low == -math.inf
            else f"strictly between {low:g} and {high:g}"
        )
        raise InputError(f"{name} must be {bounds}; got {value!r}")
    return number


def check_count(name: str, value: object, minimum: int = 1) -> int:
    """A whole number ≥ ``minimum`` (e.g. draws ≥ 1, tune ≥ 0)."""
    number = float(value) if _is_real(value) else math.nan  # type: ignore[arg-type]
    if not (math.isfinite(number) and number == int(number) and number >= minimum):
        raise InputError(f"{name} must be a whole number ≥ {minimum}; got {value!r}")
    return int(number)


def check_seed(value: object) -> int | None:
    """A random seed: None or a whole number ≥ 0."""
    if value is None:
        return None
    return check_count("random_seed", value, 0)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def printable(text: object) -> str:
    """Text safe for a terminal: control characters (escape sequences included) are shown as
    ``\\xNN`` instead of being executed; newlines, tabs and carriage returns are kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def spreadsheet_safe(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula gets a leading ``'`` (as OWASP
    recommends); every other value is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def check_thresholds(values: Iterable[float], name: str = "thresholds") -> tuple[float, ...]:
    """Finite numbers that print differently (``0.8`` and ``0.8000001`` would label two
    columns and two statements alike)."""
    items = tuple(values)
    for value in items:
        if not _is_real(value) or not math.isfinite(float(value)):
            raise InputError(f"{name} must be finite numbers, e.g. (1.0, 0.8); got {list(items)!r}")
    printed: dict[str, float] = {}
    for value in items:
        text = f"{float(value):g}"
        if text in printed and printed[text] != float(value):
            raise InputError(
                f"{name} {printed[text]!r} and {value!r} print alike ({text!r}); give distinct values"
            )
        printed[text] = float(value)
    return tuple(dict.fromkeys(float(v) for v in items))
