"""The immutable container every analysis starts from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from hiermeta.constants import Z95
from hiermeta.data.measures import MEASURES, Measure, get_measure
from hiermeta.errors import InputError, unknown_option

__all__ = ["ADDITIVE_MEASURES", "RATIO_MEASURES", "EffectData"]

#: Largest ratio of standard errors between two studies (weights differ by its square: 1e12).
MAX_SE_RATIO = 1e6

#: Measures analysed on the log scale and reported on the ratio scale.
RATIO_MEASURES = tuple(name for name, m in MEASURES.items() if m.is_ratio)
#: Measures analysed on an additive scale (the measure itself, logit or Fisher z).
ADDITIVE_MEASURES = tuple(name for name, m in MEASURES.items() if not m.is_ratio)


def _readonly(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.array(values, dtype=float)
    array.setflags(write=False)
    return array


@lru_cache(maxsize=512)
def _no_covariates(k: int) -> pd.DataFrame:
    """The empty covariate table of k studies, built once per k and shared (like the arrays of
    an :class:`EffectData`, it is read-only by contract: a batch of 10,000 analyses would
    otherwise spend half its conversion time building empty frames)."""
    return pd.DataFrame(index=pd.RangeIndex(k))


@dataclass(frozen=True, eq=False)
class EffectData:
    """Study effect estimates on the analysis scale, ready for any engine.

    Build it with a converter (:func:`hiermeta.from_ratio_ci`, :func:`hiermeta.from_log_se`, …)
    rather than directly: the converters run the forensic checks.

    Parameters
    ----------
    study
        Unique study labels.
    y
        Effect estimates on the analysis scale (log scale for ratio measures).
    se
        Their standard errors (strictly positive).
    measure
        Effect measure, e.g. ``"HR"``; ratio measures are reported on the exponentiated scale.
    covariates
        Study-level covariates, one row per study, in study order.
    cluster
        Optional cohort/trial label per study, for multilevel models.
    conversions
        How each study's ``y`` and ``se`` were obtained (for the methods section).
    excluded
        Rows that could not be used, with the reason (columns ``study``, ``reason``).
    outcome_sd
        For mean differences: the outcome's standard deviation (the median of the studies'
        pooled within-group SDs), known when the data came from means and SDs. It is the
        unit in which default priors for an MD are stated.
    """

    study: tuple[str, ...]
    y: np.ndarray
    se: np.ndarray
    measure: str = "HR"
    covariates: pd.DataFrame = field(default_factory=pd.DataFrame)
    cluster: tuple[str, ...] | None = None
    conversions: tuple[str, ...] = ()
    excluded: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"study": [], "reason": []}, dtype=object)
    )
    outcome_sd: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "study", tuple(str(s) for s in self.study))
        object.__setattr__(self, "y", _readonly(self.y))
        object.__setattr__(self, "se", _readonly(self.se))
        k = len(self.study)
        get_measure(self.measure)
        if self.outcome_sd is not None and not (
            np.isfinite(self.outcome_sd) and self.outcome_sd > 0
        ):
            raise InputError(f"outcome_sd must be positive and finite; got {self.outcome_sd!r}")
        if self.y.shape != (k,) or self.se.shape != (k,):
            raise InputError(
                f"y and se must have one value per study ({k}); got {self.y.shape} and "
                f"{self.se.shape}"
            )
        if k == 0:
            raise InputError("no usable studies: the table is empty after the checks")
        self._check_labels()
        with np.errstate(under="ignore", over="ignore"):
            clean = bool(
                np.all(np.isfinite(self.y))
                and np.all(np.isfinite(self.se))
                and np.all(self.se**2 > 0)
                and np.all(np.isfinite(self.se**2))
            )
        if not clean:  # find the first bad study for the message
            with np.errstate(under="ignore", over="ignore"):
                for label, value, err in zip(self.study, self.y, self.se, strict=True):
                    if not np.isfinite(value):
                        raise InputError(f"study {label!r}: effect estimate {value} is not finite")
                    if not (np.isfinite(err) and err > 0):
                        raise InputError(f"study {label!r}: standard error {err} must be positive")
                    if not err**2 > 0:
                        raise InputError(
                            f"study {label!r}: standard error {err:g} is too small to be real (its square underflows to 0)"
                        )
                    if not np.isfinite(err**2):
                        raise InputError(
                            f"study {label!r}: standard error {err:g} is too large to be real (its square overflows)"
                        )
        self._check_se_ratio()
        self._check_plausible()
        if len(self.covariates.columns):
            if len(self.covariates) != k:
                raise InputError(f"covariates have {len(self.covariates)} rows for {k} studies")
            covariates = self.covariates.reset_index(drop=True).copy()
        else:
            covariates = _no_covariates(k)
        object.__setattr__(self, "covariates", covariates)
        if self.cluster is not None:
            if len(self.cluster) != k:
                raise InputError(f"cluster has {len(self.cluster)} labels for {k} studies")
            object.__setattr__(self, "cluster", tuple(str(c) for c in self.cluster))
        if len(self.conversions) not in (0, k):
            raise InputError(f"conversions has {len(self.conversions)} entries for {k} studies")

    def _check_labels(self) -> None:
        for label in self.study:
            if "\x00" in label:
                raise InputError(
                    f"study {label!r}: a label may not contain a NUL character (no file format "
                    "can store it)"
                )
        if len(set(self.study)) != len(self.study):
            dups = sorted({s for s in self.study if self.study.count(s) > 1})
            raise InputError(f"duplicate study labels {dups}; labels must be unique")

    def _check_plausible(self) -> None:
        """A log ratio beyond ±50 (a ratio of e^50 ≈ 5e21) is no real estimate."""
        if get_measure(self.measure).is_ratio and np.any(np.abs(self.y) > 50):
            i = int(np.argmax(np.abs(self.y)))
            with np.errstate(over="ignore"):
                ratio = float(np.exp(self.y[i]))
            raise InputError(
                f"study {self.study[i]!r}: {self.measure} {ratio:g} (log {self.y[i]:g}) is not a "
                "plausible ratio; check the transcription"
            )

    def _check_se_ratio(self) -> None:
        if len(self.se) > 1 and self.se.max() / self.se.min() > MAX_SE_RATIO:
            small, large = int(np.argmin(self.se)), int(np.argmax(self.se))
            raise InputError(
                f"study {self.study[small]!r}: standard error {self.se[small]:g} is "
                f"{self.se[large] / self.se[small]:.3g} times smaller than that of study "
                f"{self.study[large]!r} ({self.se[large]:g}); beyond {MAX_SE_RATIO:g} the weights "
                "cannot be combined in double precision — check the transcription"
            )

    @classmethod
    def part_of_checked(
        cls,
        data: EffectData,
        rows: slice,
        study: Sequence[str],
        excluded: pd.DataFrame,
    ) -> EffectData:
        """Rows ``rows`` of ``data`` (already checked as a whole) as a dataset of their own.

        The batch path converts one long table of many analyses at once and then slices it:
        the per-value checks (finite estimates, positive SEs, the measure) were made on the
        whole and are not repeated; the per-analysis ones (unique labels, the SE ratio) are.
        """
        self = object.__new__(cls)
        study = tuple(str(s) for s in study)
        if not study:
            raise InputError("no usable studies: the table is empty after the checks")
        covariates = (
            data.covariates.iloc[rows].reset_index(drop=True)
            if len(data.covariates.columns)
            else _no_covariates(len(study))
        )
        values = {
            "study": study,
            "y": data.y[rows],
            "se": data.se[rows],
            "measure": data.measure,
            "covariates": covariates,
            "cluster": None if data.cluster is None else data.cluster[rows],
            "conversions": data.conversions[rows],
            "excluded": excluded,
            "outcome_sd": data.outcome_sd,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if len(self.y) != len(study):
            raise InputError(f"{len(study)} labels for {len(self.y)} studies")
        self._check_labels()
        self._check_se_ratio()
        return self

    # ------------------------------------------------------------------ basic properties
    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.study)

    @property
    def variance(self) -> np.ndarray:
        """Sampling variances ``se**2``."""
        return self.se**2

    @property
    def measure_info(self) -> Measure:
        """The measure's registry entry (scales, family, reporting name)."""
        return get_measure(self.measure)

    @property
    def is_ratio(self) -> bool:
        """True when the measure is a ratio analysed on the log scale."""
        return self.measure_info.is_ratio

    @property
    def back_transformed(self) -> bool:
        """True when results are reported on another scale than the analysis scale."""
        return self.measure_info.back_transformed

    @property
    def natural_label(self) -> str:
        """Name of the reporting scale: ``"HR"``, ``"proportion"``, ``"r"``, ``"MD"``."""
        return self.measure_info.reported

    @property
    def log_label(self) -> str:
        """Name of the analysis scale, e.g. ``"log HR"``, ``"Fisher z"``, ``"MD"``."""
        return self.measure_info.analysis_label

    def to_natural(self, values: ArrayLike) -> np.ndarray:
        """Map analysis-scale values to the reporting scale (``exp`` for ratio measures,
        the inverse logit for PLO, ``tanh`` for Fisher z)."""
        return self.measure_info.to_natural(values)

    def from_natural(self, values: ArrayLike) -> np.ndarray:
        """Map reporting-scale values (e.g. an HR threshold) to the analysis scale."""
        return self.measure_info.from_natural(values)

    # ------------------------------------------------------------------ views
    def to_frame(self) -> pd.DataFrame:
        """One row per study: label, y, se, the ratio-scale estimate and CI, covariates."""
        frame = pd.DataFrame({"study": list(self.study), "y": self.y, "se": self.se})
        if self.back_transformed:
            frame[self.natural_label] = self.to_natural(self.y)
            frame["ci_low"] = self.to_natural(self.y - Z95 * self.se)
            frame["ci_high"] = self.to_natural(self.y + Z95 * self.se)
        if self.cluster is not None:
            frame["cluster"] = list(self.cluster)
        for column in self.covariates.columns:
            frame[column] = self.covariates[column].to_numpy()
        return frame

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.study)}

    def position(self, label: str) -> int | None:
        """Index of the study labelled ``label`` (None if there is none); constant time."""
        return self._positions.get(label)

    def subset(self, mask: Sequence[bool] | np.ndarray) -> EffectData:
        """Return the studies where ``mask`` is true (a new object; this one is unchanged)."""
        keep = np.asarray(mask, dtype=bool)
        if keep.shape != (self.k,):
            raise InputError(f"mask has shape {keep.shape}, expected ({self.k},)")
        if not keep.any():
            raise InputError("the subset is empty: no study satisfies the condition")
        return self.take(np.flatnonzero(keep))

    def take(self, positions: Sequence[int] | np.ndarray) -> EffectData:
        """The studies at ``positions``, in that order (a new object)."""
        index = [int(i) for i in positions]
        if not index:
            raise InputError("the subset is empty: no study was chosen")
        return replace(
            self,
            study=tuple(self.study[i] for i in index),
            y=self.y[index],
            se=self.se[index],
            covariates=self.covariates.iloc[index].reset_index(drop=True),
            cluster=None if self.cluster is None else tuple(self.cluster[i] for i in index),
            conversions=tuple(self.conversions[i] for i in index) if self.conversions else (),
        )

    def where(self, column: str, value: object) -> EffectData:
        """Studies whose covariate ``column`` equals ``value``."""
        if column not in self.covariates.columns:
            raise unknown_option("covariate", column, list(self.covariates.columns))
        return self.subset((self.covariates[column] == value).to_numpy())

    def __repr__(self) -> str:
        covs = ", ".join(self.covariates.columns) or "none"
        return (
            f"EffectData(k={self.k}, measure={self.measure!r}, covariates=[{covs}], "
            f"clusters={'none' if self.cluster is None else len(set(self.cluster))}, "
            f"excluded={len(self.excluded)})"
        )
