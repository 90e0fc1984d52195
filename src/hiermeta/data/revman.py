"""Read Cochrane RevMan 5 review files (``.rm5``) into tidy tables for the converters.

A RevMan 5 file is XML. Studies are listed under ``STUDIES_AND_REFERENCES/STUDIES/
INCLUDED_STUDIES/STUDY`` (``ID``, ``NAME``, ``YEAR``); the analyses under
``ANALYSES_AND_DATA/COMPARISON``, one element per outcome:

==================  ===========  ==========================================================
outcome element     data rows    numbers read
==================  ===========  ==========================================================
``DICH_OUTCOME``    DICH_DATA    EVENTS_1, TOTAL_1, EVENTS_2, TOTAL_2 (measure: attribute)
``CONT_OUTCOME``    CONT_DATA    MEAN_1, SD_1, TOTAL_1, MEAN_2, SD_2, TOTAL_2
``IV_OUTCOME``      IV_DATA      ESTIMATE, SE (log scale when ``LOG_DATA="YES"``; measure
                                 in a child element, in words: "Hazard Ratio")
``IPD_OUTCOME``     IPD_DATA     O_E, VAR (RevMan's "O − E and variance" outcomes)
==================  ===========  ==========================================================

Data rows sit directly under the outcome or inside ``*_SUBGROUP`` elements (whose ``NAME``
becomes the ``subgroup`` column). Identifiers escape special characters as ``_xHHHH_``
(``STD-Dupont_x002d_Moreau-2018``); they are decoded. Structure as in files written by RevMan
5.0–5.4 and the R package meta's ``read.rm5`` (Schwarzer); values are read exactly as written.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.data.convert import from_2x2, from_log_se, from_means, from_oe_v
from hiermeta.data.effects import EffectData
from hiermeta.data.measures import get_measure
from hiermeta.errors import InputError, unknown_option

__all__ = ["read_revman", "revman_effects"]

#: RevMan outcome elements → (data element, kind of data).
OUTCOME_KINDS = {
    "DICH_OUTCOME": ("DICH_DATA", "dichotomous"),
    "CONT_OUTCOME": ("CONT_DATA", "continuous"),
    "IV_OUTCOME": ("IV_DATA", "generic"),
    "IPD_OUTCOME": ("IPD_DATA", "o-e and variance"),
}
#: RevMan's measure names (attribute codes and the words of generic outcomes) → hiermeta's.
MEASURE_NAMES = {
    "OR": "OR",
    "RR": "RR",
    "RD": "RD",
    "MD": "MD",
    "SMD": "SMD",
    "PETO_OR": "OR",
    "odds ratio": "OR",
    "peto odds ratio": "OR",
    "risk ratio": "RR",
    "risk difference": "RD",
    "hazard ratio": "HR",
    "rate ratio": "IRR",
    "ratio of means": "ROM",
    "mean difference": "MD",
    "std. mean difference": "SMD",
    "standardised mean difference": "SMD",
    "standardized mean difference": "SMD",
}
_NUMBERS = {
    "dichotomous": {
        "EVENTS_1": "events_1",
        "TOTAL_1": "total_1",
        "EVENTS_2": "events_2",
        "TOTAL_2": "total_2",
    },
    "continuous": {
        "MEAN_1": "mean_1",
        "SD_1": "sd_1",
        "TOTAL_1": "total_1",
        "MEAN_2": "mean_2",
        "SD_2": "sd_2",
        "TOTAL_2": "total_2",
    },
    "generic": {"ESTIMATE": "estimate", "SE": "se", "TOTAL_1": "total_1", "TOTAL_2": "total_2"},
    "o-e and variance": {
        "O_E": "o_minus_e",
        "VAR": "variance",
        "TOTAL_1": "total_1",
        "TOTAL_2": "total_2",
    },
}
COLUMNS = [
    "comparison",
    "outcome_id",
    "outcome",
    "kind",
    "measure",
    "log_data",
    "subgroup",
    "study_id",
    "study",
    "year",
    "events_1",
    "total_1",
    "events_2",
    "total_2",
    "mean_1",
    "sd_1",
    "mean_2",
    "sd_2",
    "estimate",
    "se",
    "o_minus_e",
    "variance",
]


def _decode(identifier: str) -> str:
    """RevMan escapes characters in identifiers as ``_xHHHH_`` (``_x002d_`` is ``-``)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), identifier)


def _number(raw: str | None, where: str, name: str) -> float:
    if raw is None or raw.strip() == "":
        return float("nan")
    try:
        return float(raw)
    except ValueError:
        raise InputError(f"{where}: {name} = {raw!r} is not a number") from None


def _measure(outcome: ET.Element, kind: str) -> str:
    if kind in ("generic", "o-e and variance"):
        raw = (outcome.findtext("EFFECT_MEASURE") or "").strip()
    else:
        raw = outcome.get("EFFECT_MEASURE", "").strip()
    key = raw if raw in MEASURE_NAMES else raw.lower()
    if kind == "o-e and variance":
        return (
            "HR"
            if key in ("", "hazard ratio", "peto odds ratio")
            else MEASURE_NAMES.get(key, "GEN")
        )
    return MEASURE_NAMES.get(key, "GEN")


def read_revman(path: str | Path) -> pd.DataFrame:
    """Every study result of every outcome of a RevMan 5 file, one row each.

    Parameters
    ----------
    path
        The ``.rm5`` file (UTF-8 or ISO-8859-1, as its XML declaration says).

    Returns
    -------
    pandas.DataFrame
        Columns ``comparison, outcome_id, outcome, kind, measure, log_data, subgroup,
        study_id, study, year`` and the numbers of the outcome's kind (``events_1, total_1,
        events_2, total_2`` for dichotomous data; ``mean_1, sd_1, mean_2, sd_2`` and the totals
        for continuous; ``estimate, se`` for generic inverse variance; ``o_minus_e, variance``
        for O − E and variance). ``attrs["title"]`` is the review's title. Pass one outcome to
        :func:`revman_effects` for an analysis.
    """
    file = Path(path)
    try:
        root = ET.parse(file).getroot()
    except OSError as err:
        raise InputError(
            f"{file.name}: cannot read the RevMan file ({err.strerror or err})"
        ) from None
    except ET.ParseError as err:
        raise InputError(f"{file.name}: not a RevMan 5 file (invalid XML: {err})") from None
    if root.tag != "COCHRANE_REVIEW":
        raise InputError(f"{file.name}: not a RevMan 5 file (its root element is <{root.tag}>)")
    studies = {
        s.get("ID", ""): (s.get("NAME") or _decode(s.get("ID", "")), s.get("YEAR") or "")
        for s in root.iter("STUDY")
    }
    rows: list[dict[str, Any]] = []
    for comparison in root.iter("COMPARISON"):
        comparison_name = (comparison.findtext("NAME") or "").strip()
        for outcome in comparison:
            if outcome.tag not in OUTCOME_KINDS:
                continue
            data_tag, kind = OUTCOME_KINDS[outcome.tag]
            base = {
                "comparison": comparison_name,
                "outcome_id": outcome.get("ID", ""),
                "outcome": (outcome.findtext("NAME") or "").strip(),
                "kind": kind,
                "measure": _measure(outcome, kind),
                "log_data": outcome.get("LOG_DATA", "NO").upper() == "YES",
            }
            for parent, subgroup in _data_parents(outcome):
                for item in parent.findall(data_tag):
                    rows.append(_row(item, base, subgroup, studies, kind, file.name))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.attrs["title"] = (root.findtext("COVER_SHEET/TITLE") or "").strip()
    return frame


def _data_parents(outcome: ET.Element) -> list[tuple[ET.Element, str]]:
    subgroups = [c for c in outcome if c.tag.endswith("_SUBGROUP")]
    parents = [(outcome, "")]
    parents += [(s, (s.findtext("NAME") or "").strip()) for s in subgroups]
    return parents


def _row(
    item: ET.Element,
    base: dict[str, Any],
    subgroup: str,
    studies: dict[str, tuple[str, str]],
    kind: str,
    file: str,
) -> dict[str, Any]:
    study_id = item.get("STUDY_ID", "")
    name, year = studies.get(study_id, (_decode(study_id).removeprefix("STD-"), ""))
    row: dict[str, Any] = {
        **base,
        "subgroup": subgroup,
        "study_id": study_id,
        "study": name,
        "year": year,
    }
    where = f"{file}: outcome {base['outcome_id']} ({base['outcome']!r}), study {name!r}"
    for attribute, column in _NUMBERS[kind].items():
        row[column] = _number(item.get(attribute), where, attribute)
    return row


def revman_effects(
    table: pd.DataFrame,
    outcome: str,
    measure: str | None = None,
    covariates: list[str] | None = None,
) -> EffectData:
    """One outcome of :func:`read_revman`'s table, converted as its kind needs.

    Dichotomous data go through :func:`~hiermeta.from_2x2` (OR, RR or RD), continuous through
    :func:`~hiermeta.from_means` (MD or SMD), generic inverse-variance data through
    :func:`~hiermeta.from_log_se` and O − E and variance through :func:`~hiermeta.from_oe_v`.

    Parameters
    ----------
    table
        The output of :func:`read_revman`.
    outcome
        The outcome's ``outcome_id`` (e.g. ``"CMP-001.01"``) or its exact name.
    measure
        Override RevMan's measure (e.g. ``"OR"`` for an outcome RevMan pooled as RR).
    covariates
        Columns to keep as covariates, e.g. ``["subgroup", "year"]``.
    """
    chosen = table[(table["outcome_id"] == outcome) | (table["outcome"] == outcome)]
    if chosen.empty:
        listing = [
            f"{i} ({n})"
            for i, n in dict(zip(table["outcome_id"], table["outcome"], strict=True)).items()
        ]
        raise unknown_option("RevMan outcome", outcome, listing)
    if chosen["outcome_id"].nunique() > 1:
        raise InputError(f"outcome name {outcome!r} is not unique; give its outcome_id")
    chosen = chosen.reset_index(drop=True)
    kind = str(chosen["kind"].iloc[0])
    measure = measure or str(chosen["measure"].iloc[0])
    if kind == "dichotomous":
        counts = chosen.assign(
            nonevents_1=chosen["total_1"] - chosen["events_1"],
            nonevents_2=chosen["total_2"] - chosen["events_2"],
        )
        return from_2x2(
            counts,
            "events_1",
            "nonevents_1",
            "events_2",
            "nonevents_2",
            "study",
            measure,
            covariates,
        )
    if kind == "continuous":
        return from_means(
            chosen,
            "mean_1",
            "sd_1",
            "total_1",
            "mean_2",
            "sd_2",
            "total_2",
            "study",
            measure,
            covariates,
        )
    if kind == "generic":
        if get_measure(measure).is_ratio and not bool(chosen["log_data"].iloc[0]):
            raise InputError(
                f"outcome {outcome!r}: a {measure} entered without LOG_DATA holds no log-scale "
                "estimate and SE; export it on the log scale from RevMan"
            )
        return from_log_se(
            chosen, "estimate", "se", study="study", measure=measure, covariates=covariates
        )
    if np.any(chosen["variance"] <= 0):
        bad = chosen.loc[chosen["variance"] <= 0, "study"].iloc[0]
        raise InputError(f"outcome {outcome!r}, study {bad!r}: variance V must be positive")
    return from_oe_v(chosen, "o_minus_e", "variance", "study", covariates)
