"""Write data/ptr_nested.csv: the curated PTR estimates that fit the nested organ-count model.

Every number comes from data/ptr_mbc.csv through hiermeta's own converters (inverted HR, 90%
CIs and p-value-only rows handled as the dataset card says): run ``python tools/make_ptr_nested.py``
from the repository root. The choice of rows is documented in data/ptr_nested.md.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

import hiermeta as hm

ROOT = Path(__file__).resolve().parents[1]
#: (cohort, population, study label in ptr_mbc.csv, note)
ROWS = [
    ("MF07-01", "all", "Soran 2021 (MF07-01, 10-year update)", "RCT, 10-year update"),
    ("MF07-01", "1", "Soran 2018 (MF07-01, solitary bone-only)", "RCT subgroup, 2018 report"),
    ("Tata Memorial", "all", "Badwe 2015 (Tata Memorial)", "RCT"),
    ("ABCSG-28", "all", "Fitzal 2019 (ABCSG-28 POSYTIVE)", "RCT; HR inverted (see ptr_mbc.md)"),
    ("E2108", "all", "Khan 2022 (E2108)", "RCT; 90% CI"),
    ("JCOG1017", "all", "Shien 2023 (JCOG1017 PRIM-BC)", "RCT; 90% CI"),
    ("Xiong 2018", "all", "Xiong 2018", "observational"),
    ("NCDB", "all", "Lane 2019 (NCDB, surgery before systemic therapy)", "observational"),
    ("ESME", "all", "Pons-Tostivint 2019 (ESME)", "observational"),
    ("SEER", "all", "Warschkow 2016 (SEER, PS-matched)", "observational, SEER 1988–2011"),
    (
        "SEER",
        "1",
        "J Surg Oncol 2026 (SEER bone-only, PMID 42057318)",
        "observational, later SEER years: overlapping, treated as nested",
    ),
    ("UMMC", "all", "Bhoo-Pathy 2011 (UMMC)", "observational"),
    ("BOMETIN", "1", "BOMETIN 2025 (MF14-1a, bone-only)", "observational (registry of MF14-01)"),
]


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hm.ExcludedStudiesWarning)
        frame = hm.load_effects("ptr_mbc").to_frame().set_index("study")
    rows = [
        {
            "cohort": cohort,
            "population": population,
            "study": study,
            "y": round(float(frame.loc[study, "y"]), 12),
            "se": round(float(frame.loc[study, "se"]), 12),
            "note": note,
        }
        for cohort, population, study, note in ROWS
    ]
    pd.DataFrame(rows).to_csv(ROOT / "data" / "ptr_nested.csv", index=False)


if __name__ == "__main__":
    main()
