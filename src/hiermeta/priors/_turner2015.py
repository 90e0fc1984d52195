"""Turner et al. (2015) log-normal priors for tau² (log odds ratios), Table IV.

Numbers as encoded in R bayesmeta (TurnerEtAlParameters / TurnerEtAlPrior); see
tests/reference/bayesmeta_published.md. Keys: (outcome, comparison) → (mean, sd) of log tau².
"""

TURNER2015: dict[tuple[str, str], tuple[float, float]] = {
    ("any (marginal setting)", "any"): (-2.56, 1.74),
    ("all-cause mortality", "pharmacological vs. placebo / control"): (-3.95, 1.34),
    ("obstetric outcomes", "pharmacological vs. placebo / control"): (-3.52, 1.74),
    (
        "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
        "pharmacological vs. placebo / control",
    ): (-3.71, 1.74),
    ("resource use / hospital stay / process", "pharmacological vs. placebo / control"): (
        -2.34,
        1.74,
    ),
    ("surgical / device related success / failure", "pharmacological vs. placebo / control"): (
        -2.14,
        1.74,
    ),
    ("withdrawals / drop-outs", "pharmacological vs. placebo / control"): (-2.99, 1.74),
    ("internal / structure-related outcomes", "pharmacological vs. placebo / control"): (
        -2.71,
        1.74,
    ),
    ("general physical health indicators", "pharmacological vs. placebo / control"): (-2.29, 1.53),
    ("adverse events", "pharmacological vs. placebo / control"): (-1.87, 1.52),
    ("infection / onset of new disease", "pharmacological vs. placebo / control"): (-2.49, 1.52),
    (
        "signs / symptoms reflecting continuation / end of condition",
        "pharmacological vs. placebo / control",
    ): (-2.06, 1.51),
    ("pain", "pharmacological vs. placebo / control"): (-1.83, 1.52),
    ("quality of life / functioning (dichotomized)", "pharmacological vs. placebo / control"): (
        -2.54,
        1.54,
    ),
    ("mental health indicators", "pharmacological vs. placebo / control"): (-2.12, 1.53),
    ("biological markers (dichotomized)", "pharmacological vs. placebo / control"): (-1.77, 1.52),
    ("subjective outcomes (various)", "pharmacological vs. placebo / control"): (-2.7, 1.52),
    ("all-cause mortality", "pharmacological vs. pharmacological"): (-4.18, 1.41),
    ("obstetric outcomes", "pharmacological vs. pharmacological"): (-3.75, 1.79),
    (
        "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
        "pharmacological vs. pharmacological",
    ): (-3.95, 1.79),
    ("resource use / hospital stay / process", "pharmacological vs. pharmacological"): (
        -2.58,
        1.79,
    ),
    ("surgical / device related success / failure", "pharmacological vs. pharmacological"): (
        -2.37,
        1.79,
    ),
    ("withdrawals / drop-outs", "pharmacological vs. pharmacological"): (-3.23, 1.79),
    ("internal / structure-related outcomes", "pharmacological vs. pharmacological"): (-2.94, 1.79),
    ("general physical health indicators", "pharmacological vs. pharmacological"): (-2.53, 1.58),
    ("adverse events", "pharmacological vs. pharmacological"): (-2.1, 1.58),
    ("infection / onset of new disease", "pharmacological vs. pharmacological"): (-2.73, 1.58),
    (
        "signs / symptoms reflecting continuation / end of condition",
        "pharmacological vs. pharmacological",
    ): (-2.29, 1.58),
    ("pain", "pharmacological vs. pharmacological"): (-2.06, 1.58),
    ("quality of life / functioning (dichotomized)", "pharmacological vs. pharmacological"): (
        -2.78,
        1.6,
    ),
    ("mental health indicators", "pharmacological vs. pharmacological"): (-2.35, 1.6),
    ("biological markers (dichotomized)", "pharmacological vs. pharmacological"): (-2.0, 1.58),
    ("subjective outcomes (various)", "pharmacological vs. pharmacological"): (-2.93, 1.58),
    ("all-cause mortality", "non-pharmacological vs. placebo / control"): (-4.17, 1.55),
    ("obstetric outcomes", "non-pharmacological vs. placebo / control"): (-3.74, 1.91),
    (
        "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
        "non-pharmacological vs. placebo / control",
    ): (-3.93, 1.91),
    ("resource use / hospital stay / process", "non-pharmacological vs. placebo / control"): (
        -2.56,
        1.91,
    ),
    ("surgical / device related success / failure", "non-pharmacological vs. placebo / control"): (
        -2.36,
        1.91,
    ),
    ("withdrawals / drop-outs", "non-pharmacological vs. placebo / control"): (-3.21, 1.91),
    ("internal / structure-related outcomes", "non-pharmacological vs. placebo / control"): (
        -2.93,
        1.92,
    ),
    ("general physical health indicators", "non-pharmacological vs. placebo / control"): (
        -2.51,
        1.72,
    ),
    ("adverse events", "non-pharmacological vs. placebo / control"): (-2.1, 1.71),
    ("infection / onset of new disease", "non-pharmacological vs. placebo / control"): (
        -2.71,
        1.71,
    ),
    (
        "signs / symptoms reflecting continuation / end of condition",
        "non-pharmacological vs. placebo / control",
    ): (-2.28, 1.71),
    ("pain", "non-pharmacological vs. placebo / control"): (-2.05, 1.71),
    ("quality of life / functioning (dichotomized)", "non-pharmacological vs. placebo / control"): (
        -2.77,
        1.73,
    ),
    ("mental health indicators", "non-pharmacological vs. placebo / control"): (-2.34, 1.72),
    ("biological markers (dichotomized)", "non-pharmacological vs. placebo / control"): (
        -1.99,
        1.71,
    ),
    ("subjective outcomes (various)", "non-pharmacological vs. placebo / control"): (-2.92, 1.71),
    ("all-cause mortality", "non-pharmacological vs. pharmacological"): (-2.92, 1.02),
    ("obstetric outcomes", "non-pharmacological vs. pharmacological"): (-2.49, 1.5),
    (
        "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
        "non-pharmacological vs. pharmacological",
    ): (-2.68, 1.51),
    ("resource use / hospital stay / process", "non-pharmacological vs. pharmacological"): (
        -1.31,
        1.5,
    ),
    ("surgical / device related success / failure", "non-pharmacological vs. pharmacological"): (
        -1.11,
        1.5,
    ),
    ("withdrawals / drop-outs", "non-pharmacological vs. pharmacological"): (-1.96, 1.51),
    ("internal / structure-related outcomes", "non-pharmacological vs. pharmacological"): (
        -1.67,
        1.51,
    ),
    ("general physical health indicators", "non-pharmacological vs. pharmacological"): (
        -1.26,
        1.25,
    ),
    ("adverse events", "non-pharmacological vs. pharmacological"): (-0.84, 1.24),
    ("infection / onset of new disease", "non-pharmacological vs. pharmacological"): (-1.46, 1.24),
    (
        "signs / symptoms reflecting continuation / end of condition",
        "non-pharmacological vs. pharmacological",
    ): (-1.03, 1.24),
    ("pain", "non-pharmacological vs. pharmacological"): (-0.8, 1.25),
    ("quality of life / functioning (dichotomized)", "non-pharmacological vs. pharmacological"): (
        -1.51,
        1.27,
    ),
    ("mental health indicators", "non-pharmacological vs. pharmacological"): (-1.09, 1.27),
    ("biological markers (dichotomized)", "non-pharmacological vs. pharmacological"): (-0.74, 1.24),
    ("subjective outcomes (various)", "non-pharmacological vs. pharmacological"): (-1.67, 1.25),
    ("all-cause mortality", "non-pharmacological vs. non-pharmacological"): (-3.5, 1.26),
    ("obstetric outcomes", "non-pharmacological vs. non-pharmacological"): (-3.08, 1.68),
    (
        "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
        "non-pharmacological vs. non-pharmacological",
    ): (-3.27, 1.68),
    ("resource use / hospital stay / process", "non-pharmacological vs. non-pharmacological"): (
        -1.9,
        1.68,
    ),
    (
        "surgical / device related success / failure",
        "non-pharmacological vs. non-pharmacological",
    ): (-1.69, 1.68),
    ("withdrawals / drop-outs", "non-pharmacological vs. non-pharmacological"): (-2.55, 1.68),
    ("internal / structure-related outcomes", "non-pharmacological vs. non-pharmacological"): (
        -2.26,
        1.68,
    ),
    ("general physical health indicators", "non-pharmacological vs. non-pharmacological"): (
        -1.85,
        1.46,
    ),
    ("adverse events", "non-pharmacological vs. non-pharmacological"): (-1.43, 1.45),
    ("infection / onset of new disease", "non-pharmacological vs. non-pharmacological"): (
        -2.05,
        1.45,
    ),
    (
        "signs / symptoms reflecting continuation / end of condition",
        "non-pharmacological vs. non-pharmacological",
    ): (-1.61, 1.45),
    ("pain", "non-pharmacological vs. non-pharmacological"): (-1.38, 1.45),
    (
        "quality of life / functioning (dichotomized)",
        "non-pharmacological vs. non-pharmacological",
    ): (-2.1, 1.47),
    ("mental health indicators", "non-pharmacological vs. non-pharmacological"): (-1.67, 1.47),
    ("biological markers (dichotomized)", "non-pharmacological vs. non-pharmacological"): (
        -1.33,
        1.45,
    ),
    ("subjective outcomes (various)", "non-pharmacological vs. non-pharmacological"): (-2.26, 1.45),
}
