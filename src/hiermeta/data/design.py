"""Moderators → design matrix, shared by every engine.

A numeric column is a continuous moderator; a text, boolean or categorical column is a
categorical moderator with indicator (dummy) coding, its first level the reference. The level
order is the column's category order for a pandas ``Categorical``, otherwise sorted, as R's
``factor()``; pass ``levels={"n_organs": ["any", "1"]}`` to choose it. ``coding={"n_organs":
"ordinal"}`` turns a categorical moderator into one trend column (0, 1, 2, … in level order):
the effect per step, e.g. per extra metastatic organ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd

from hiermeta.data.effects import EffectData
from hiermeta.errors import InputError, unknown_option

__all__ = ["Design", "Term", "build_design", "is_intercept_only", "unit_vector"]

Coding = Literal["indicator", "ordinal", "continuous"]


@dataclass(frozen=True)
class Term:
    """One moderator and the design columns it produced."""

    name: str
    coding: Coding
    columns: tuple[int, ...]
    levels: tuple[str, ...] = ()
    mean: float = 0.0

    @property
    def reference(self) -> str | None:
        """Reference level of a categorical term."""
        return self.levels[0] if self.levels else None


@dataclass(frozen=True)
class Design:
    """Design matrix with named columns; column 0 is the intercept."""

    X: np.ndarray
    names: tuple[str, ...]
    terms: tuple[Term, ...]

    @property
    def p(self) -> int:
        """Number of coefficients."""
        return self.X.shape[1]

    @property
    def intercept_only(self) -> bool:
        """True when there are no moderators."""
        return self.p == 1

    def term(self, name: str) -> Term:
        """The term for moderator ``name``."""
        for term in self.terms:
            if term.name == name:
                return term
        raise unknown_option("moderator", name, [t.name for t in self.terms])

    def level_vectors(self, name: str) -> dict[str, np.ndarray]:
        """Design rows giving the mean effect at each level of a categorical moderator.

        Other continuous moderators are held at their sample mean, other categorical ones at
        their reference level.
        """
        target = self.term(name)
        if not target.levels:
            raise InputError(f"moderator {name!r} is continuous; it has no levels")
        base = np.zeros(self.p)
        base[0] = 1.0
        for term in self.terms:
            if term.coding == "continuous":
                base[term.columns[0]] = term.mean
        rows = {}
        for index, level in enumerate(target.levels):
            row = base.copy()
            if target.coding == "ordinal":
                row[target.columns[0]] = index
            elif index > 0:
                row[target.columns[index - 1]] = 1.0
            rows[level] = row
        return rows


def _levels_of(values: pd.Series, name: str, given: Sequence[str] | None) -> tuple[str, ...]:
    present = [str(v) for v in values]
    if given is not None:
        order = tuple(str(v) for v in given)
        unknown = sorted(set(present) - set(order))
        if unknown:
            raise InputError(
                f"moderator {name!r} has value {unknown[0]!r}, not in the given levels {list(order)}"
            )
        return tuple(level for level in order if level in present)
    if isinstance(values.dtype, pd.CategoricalDtype):
        return tuple(str(c) for c in values.cat.categories if str(c) in present)
    return tuple(sorted(set(present)))


def build_design(
    data: EffectData,
    moderators: Sequence[str] | str | None = None,
    *,
    coding: Mapping[str, Coding] | None = None,
    levels: Mapping[str, Sequence[str]] | None = None,
) -> Design:
    """Build the design matrix for ``moderators`` (covariate names of ``data``).

    Parameters
    ----------
    data
        The studies; moderators must be among ``data.covariates``.
    moderators
        Covariate names, in order. ``None`` gives the intercept-only model.
    coding
        Per moderator: ``"indicator"`` (default for text), ``"ordinal"`` or ``"continuous"``
        (default for numbers).
    levels
        Per categorical moderator, the level order (first = reference).
    """
    if not (moderators or coding or levels):
        return _intercept_design(data.k)
    if isinstance(moderators, str):
        moderators = [moderators]
    moderators = list(moderators or [])
    coding = dict(coding or {})
    levels = dict(levels or {})
    available = list(data.covariates.columns)
    for name in moderators + list(coding) + list(levels):
        if name not in available:
            raise InputError(
                f"moderator {name!r} is not a covariate of the data; covariates are {available}"
                + ("" if available else " (pass covariates=[...] to the converter)")
            )
    for name, how in coding.items():
        if how not in ("indicator", "ordinal", "continuous"):
            raise unknown_option(
                f"coding for {name!r}", how, ["indicator", "ordinal", "continuous"]
            )
    columns = [np.ones(data.k)]
    names = ["intercept"]
    terms = []
    for name in moderators:
        values = data.covariates[name]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        how = coding.get(name, "continuous" if numeric else "indicator")
        start = len(columns)
        if how == "continuous":
            if not numeric:
                raise InputError(f"moderator {name!r} is not numeric; use coding 'indicator'")
            x = values.to_numpy(dtype=float)
            columns.append(x)
            names.append(name)
            terms.append(Term(name, "continuous", (start,), mean=float(x.mean())))
            continue
        found = _levels_of(values, name, levels.get(name))
        if len(found) < 2:
            raise InputError(
                f"moderator {name!r} has a single level {found[0]!r} among these studies; "
                "it cannot be estimated"
            )
        text = values.astype(str).to_numpy()
        if how == "ordinal":
            columns.append(np.array([found.index(v) for v in text], dtype=float))
            names.append(f"{name} (per level)")
            terms.append(Term(name, "ordinal", (start,), found))
        else:
            for level in found[1:]:
                columns.append((text == level).astype(float))
                names.append(f"{name}[{level}]")
            terms.append(Term(name, "indicator", tuple(range(start, len(columns))), found))
    X = np.column_stack(columns)
    if X.shape[1] > 1 and np.linalg.matrix_rank(X) < X.shape[1]:  # a column of ones has rank 1
        raise InputError(
            f"the moderators {moderators} are collinear (the design matrix has rank "
            f"{np.linalg.matrix_rank(X)} < {X.shape[1]} columns); drop or merge one"
        )
    if X.shape[1] > data.k:
        raise InputError(f"{X.shape[1]} coefficients cannot be estimated from {data.k} studies")
    X.setflags(write=False)
    return Design(X=X, names=tuple(names), terms=tuple(terms))


@lru_cache(maxsize=64)
def _intercept_design(k: int) -> Design:
    """The intercept-only design of k studies (shared: its matrix is a view of a read-only
    array, so no caller can make it writable again)."""
    ones = np.ones((k, 1))
    ones.setflags(write=False)
    return Design(X=ones.view(), names=("intercept",), terms=())


def is_intercept_only(X: np.ndarray) -> bool:
    """True when the design matrix is one column of ones (the scalar-algebra fast paths of the
    likelihood and of Cochran's Q)."""
    return X.shape[1] == 1 and bool((X == 1.0).all())


@lru_cache(maxsize=256)
def unit_vector(p: int, i: int) -> np.ndarray:
    """The i-th unit vector of length p (read-only, shared): the design row of a coefficient."""
    out = np.zeros(p)
    out[i] = 1.0
    out.setflags(write=False)
    return out
