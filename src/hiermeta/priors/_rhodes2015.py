"""Rhodes, Turner & Higgins (2015) predictive distributions for heterogeneity of SMDs.

ln tau² ~ t_5(location, scale) by outcome type × intervention comparison, for three medical
areas. J Clin Epidemiol 2015;68(1):52-60, Table 3 and Appendix Tables A.3.1 (respiratory) and
A.3.2 (cancer); transcribed as in the R package bayesmeta 3.4 (``RhodesEtAlPrior``, file
``R/bayesmeta.R``), whose general setting is t_5(−3.44, 2.59) ("beginning of Sec. 3.3").

One entry (mental health outcome, non-pharmacological comparison, area "other": −3.85) breaks
the pattern of the table (column 3 = column 1 − 0.14 everywhere else, which would give −2.85);
it is kept as bayesmeta has it, pending a check against the printed paper.
"""

from __future__ import annotations

from hiermeta.errors import unknown_option

COMPARISONS = (
    "pharmacological vs. placebo / control",
    "pharmacological vs. pharmacological",
    "non-pharmacological (any)",
)
OUTCOMES = (
    "obstetric outcome",
    "resource use and hospital stay / process",
    "internal and external structure-related outcome",
    "general physical health and adverse event and pain and quality of life / functioning",
    "signs / symptoms reflecting continuation / end of condition and infection / onset of new acute / chronic disease",
    "mental health outcome",
    "biological marker",
    "various subjectively measured outcomes",
)
# columns: one tuple of 8 outcomes per comparison (bayesmeta fills its matrices column-wise)
_LOCATION = {
    "other": (
        (-4.13, -2.55, -2.43, -3.16, -3.00, -2.99, -3.41, -2.76),
        (-4.40, -2.83, -2.70, -3.44, -3.27, -3.27, -3.68, -3.03),
        (-3.99, -2.41, -2.29, -3.02, -2.86, -3.85, -3.27, -2.62),
    ),
    "respiratory": (
        (-6.03, -4.46, -4.33, -5.07, -4.90, -4.90, -5.31, -4.66),
        (-6.31, -4.73, -4.61, -5.34, -5.18, -5.17, -5.59, -4.94),
        (-5.89, -4.32, -4.19, -4.93, -4.76, -4.76, -5.17, -4.52),
    ),
    "cancer": (
        (-1.57, 0.01, -0.13, -0.60, -0.44, -0.43, -0.85, -0.20),
        (-1.85, -0.27, -0.14, -0.88, -0.71, -0.71, -1.13, -0.48),
        (-1.43, 0.15, 0.27, -0.46, -0.30, -0.29, -0.71, -0.06),
    ),
}
_SCALE = {
    "other": (
        (2.34, 2.73, 2.50, 2.50, 2.50, 2.16, 2.83, 2.58),
        (2.31, 2.70, 2.46, 2.44, 2.47, 2.14, 2.78, 2.59),
        (2.11, 2.57, 2.32, 2.27, 2.33, 1.93, 2.66, 2.41),
    ),
    "respiratory": (
        (2.36, 2.74, 2.51, 2.51, 2.50, 2.17, 2.83, 2.59),
        (2.31, 2.70, 2.46, 2.45, 2.47, 2.14, 2.78, 2.59),
        (2.21, 2.57, 2.33, 2.28, 2.33, 1.94, 2.66, 2.41),
    ),
    "cancer": (
        (2.45, 2.83, 2.61, 2.61, 2.60, 2.28, 2.93, 2.68),
        (2.41, 2.79, 2.56, 2.55, 2.57, 2.25, 2.87, 2.68),
        (2.24, 2.68, 2.45, 2.40, 2.46, 2.08, 2.78, 2.53),
    ),
}
GENERAL = (-3.44, 2.59)


def rhodes_parameters(outcome: str, comparison: str, area: str) -> tuple[float, float]:
    """(location, scale) of ln tau² for one setting; the general setting ignores ``area``."""
    if outcome == "any (general setting)" and comparison == "any":
        return GENERAL
    if area not in _LOCATION:
        raise unknown_option("Rhodes area", area, list(_LOCATION))
    if outcome not in OUTCOMES:
        raise unknown_option("Rhodes outcome type", outcome, list(OUTCOMES))
    if comparison not in COMPARISONS:
        raise unknown_option("Rhodes comparison", comparison, list(COMPARISONS))
    i, j = OUTCOMES.index(outcome), COMPARISONS.index(comparison)
    return _LOCATION[area][j][i], _SCALE[area][j][i]
