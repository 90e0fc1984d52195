"""Bundled datasets with provenance: ``hm.datasets()``, ``hm.load_dataset(name)``.

Each dataset is a CSV plus a Markdown data card (source, quotes, caveats) in the repository's
top-level ``data/`` folder, registered in ``data/datasets.toml``. In an installed wheel the
folder is shipped as ``hiermeta/_bundled_data``.
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from hiermeta.data.convert import CONVERTERS, convert, converter_arguments
from hiermeta.data.effects import EffectData
from hiermeta.errors import InputError, unknown_option

__all__ = ["data_dir", "datasets", "load_dataset", "load_effects"]


#: Older names of input kinds in ``datasets.toml`` → the converter registry's names.
INPUT_ALIASES = {"counts_2x2": "2x2", "log_var": "log_se", "mean_se": "log_se"}


def data_dir() -> Path:
    """The folder holding the bundled datasets."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "_bundled_data", here.parents[3] / "data"):
        if (candidate / "datasets.toml").is_file():
            return candidate
    raise FileNotFoundError("hiermeta's bundled data folder (datasets.toml) was not found")


@cache
def _registry() -> dict[str, dict[str, Any]]:
    with open(data_dir() / "datasets.toml", "rb") as handle:
        return tomllib.load(handle)


def datasets() -> pd.DataFrame:
    """List the bundled datasets: name, title, measure, number of rows, source."""
    rows = []
    for name, meta in _registry().items():
        rows.append(
            {
                "name": name,
                "title": meta["title"],
                "measure": meta["measure"],
                "rows": len(pd.read_csv(data_dir() / meta["file"])),
                "source": meta["source"],
            }
        )
    return pd.DataFrame(rows).set_index("name")


def _meta(name: str) -> dict[str, Any]:
    registry = _registry()
    if name not in registry:
        raise unknown_option("dataset", name, list(registry))
    return registry[name]


def load_dataset(name: str) -> pd.DataFrame:
    """The raw table of a bundled dataset; ``.attrs`` holds its registry entry and card.

    Parameters
    ----------
    name
        One of the names listed by :func:`datasets`.
    """
    meta = _meta(name)
    frame = pd.read_csv(data_dir() / meta["file"])
    if "study_label" in meta:
        parts = [
            frame[c].astype(str).str.replace(r"\.0$", "", regex=True) for c in meta["study_label"]
        ]
        label = parts[0]
        for part in parts[1:]:
            label = label + " " + part
        frame.insert(0, "label", label)
    frame.attrs["meta"] = dict(meta, name=name)
    frame.attrs["card"] = (data_dir() / meta["card"]).read_text(encoding="utf-8")
    return frame


def load_effects(
    name: str, subset: str | None = None, covariates: list[str] | None = None
) -> EffectData:
    """A bundled dataset converted to :class:`EffectData` as its registry entry says.

    Parameters
    ----------
    name
        Dataset name.
    subset
        Name of a boolean column selecting rows (e.g. ``"primary"`` for ``ptr_mbc``).
    covariates
        Covariates to keep (default: the registry's list).
    """
    meta = _meta(name)
    frame = load_dataset(name)
    if subset is not None:
        allowed = meta.get("subsets", [])
        if subset not in allowed:
            raise unknown_option(f"subset of {name!r}", subset, allowed)
        frame = frame[frame[subset].astype(str).str.lower() == "true"].reset_index(drop=True)
    cols = meta["columns"]
    study = "label" if "study_label" in meta else cols.get("study")
    covs = meta.get("covariates", []) if covariates is None else covariates
    covs = [c for c in covs if frame[c].notna().all()]
    kind = INPUT_ALIASES.get(meta["input"], meta["input"])
    if kind not in CONVERTERS:
        raise InputError(f"dataset {name!r} has an unknown input kind {kind!r}")
    _, optional = converter_arguments(kind)
    arguments: dict[str, Any] = {k: v for k, v in cols.items() if k != "study"}
    arguments.update(study=study, covariates=covs)
    settings = {
        "measure": meta["measure"],
        "cluster": meta.get("cluster"),
        "on_unusable": "exclude",
    }
    arguments.update({k: v for k, v in settings.items() if k in optional and v is not None})
    data = convert(kind, frame, **arguments)
    if "outcome_sd" in meta:  # the outcome's known SD (stated in the card): the unit of MD priors
        data = replace(data, outcome_sd=float(meta["outcome_sd"]))
    return data
