"""The ``hiermeta`` command: calls the public API only.

Bad input ends with exit code 2, a one-line message naming the study, key or column, no
traceback, and nothing written to the output folder.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from hiermeta.errors import HiermetaWarning, InputError, check_level, printable

__all__ = ["main"]

EXIT_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hiermeta",
        description="Bayesian hierarchical meta-analysis of hazard ratios and other effect sizes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run an analysis spec (models/<spec>.toml) and write its report"
    )
    run.add_argument("spec", nargs="+", help="one or more TOML specs")
    run.add_argument(
        "--out",
        default="out",
        help="output folder (default: out/; one subfolder per spec when several)",
    )
    run.add_argument("--json", action="store_true", help="print only the summary JSON on stdout")
    run.add_argument("--no-progress", action="store_true", help="no sampling progress bar")
    fit = sub.add_parser(
        "fit",
        help="fit a CSV of study results (ratios with CIs, estimates with SEs, 2×2 counts, means, proportions, correlations) or a RevMan 5 file",
        description=(
            "Fit a CSV with one row per study, giving the columns of one input kind: "
            "--estimate/--lower/--upper (a ratio and its CI), --y/--se (analysis-scale "
            "estimates), --ai/--bi/--ci/--di (2×2 counts), --events1/--n1/--events2/--n2, "
            "--m1/--sd1/--n1/--m2/--sd2/--n2 (means and SDs), --events/--n (proportions), "
            "--r/--n (correlations) or --o-minus-e/--v (log-rank). The separator and decimal "
            "mark are detected (',' and '.', or ';' and ',') unless given. A RevMan 5 file "
            "(.rm5) takes --outcome instead of columns."
        ),
    )
    fit.add_argument("csv", help="CSV file, one row per study, or a RevMan 5 file (.rm5)")
    fit.add_argument(
        "--measure",
        type=str.upper,
        help="HR, OR, RR, RD, MD, SMD, ROM, PLO, PR, ZCOR… (default: the input kind's first)",
    )
    for name, text in [
        ("estimate", "column with the ratio (with --lower and --upper)"),
        ("lower", "column with the lower CI bound"),
        ("upper", "column with the upper CI bound"),
        ("y", "column with analysis-scale estimates, e.g. log HRs (with --se)"),
        ("se", "column with their standard errors"),
        ("ai", "2×2: events in the treated group"),
        ("bi", "2×2: non-events in the treated group"),
        ("ci", "2×2: events in the control group"),
        ("di", "2×2: non-events in the control group"),
        ("events1", "events in the treated group (with --n1, --events2, --n2)"),
        ("events2", "events in the control group"),
        ("m1", "means: mean of the treated group (with --sd1 --n1 --m2 --sd2 --n2)"),
        ("sd1", "means: SD of the treated group"),
        ("n1", "size of the treated group"),
        ("m2", "means: mean of the control group"),
        ("sd2", "means: SD of the control group"),
        ("n2", "size of the control group"),
        ("events", "proportions: events in the single group (with --n)"),
        ("r", "correlations: the correlation coefficient (with --n)"),
        ("n", "group or sample size (proportions, correlations)"),
        ("o-minus-e", "log-rank O − E (with --v)"),
        ("v", "log-rank variance V"),
        ("outcome", "RevMan file: the outcome id (CMP-001.01) or name"),
        ("study", "column with study labels"),
    ]:
        fit.add_argument(f"--{name}", help=text)
    fit.add_argument(
        "--ci-level", default="0.95", help="CI level as a fraction, or a column name (default 0.95)"
    )
    fit.add_argument("--sep", help="CSV separator (default: detected)")
    fit.add_argument("--decimal", help="decimal mark (default: detected)")
    fit.add_argument(
        "--moderator", action="append", default=[], help="moderator column (repeatable)"
    )
    fit.add_argument(
        "--tau-prior",
        help="e.g. halfnormal(0.5), halfcauchy(0.5), inversegamma(2.42,0.30) "
        "(default: the measure's, see docs/measures.md)",
    )
    fit.add_argument(
        "--mu-prior", help="e.g. normal(0,1), flat() (default: the measure's, see docs/measures.md)"
    )
    fit.add_argument("--engine", default="exact", choices=["exact", "nuts"])
    fit.add_argument(
        "--method", default="REML", type=str.upper, help="frequentist tau² method (default REML)"
    )
    fit.add_argument(
        "--ci-method",
        default="wald",
        choices=["wald", "knapp-hartung"],
        help="frequentist interval method (default wald)",
    )
    fit.add_argument(
        "--influence",
        action="store_true",
        help="leave-one-out, influence diagnostics and the Baujat plot in the report",
    )
    fit.add_argument(
        "--cumulative", metavar="COLUMN", help="cumulative meta-analysis, studies ordered by COLUMN"
    )
    fit.add_argument(
        "--small-study",
        action="store_true",
        help="small-study effects: funnel plot, Egger/Begg tests, trim-and-fill, PET-PEESE, "
        "selection model, exact Bayesian model averaging",
    )
    fit.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    fit.add_argument("--json", action="store_true", help="print only the summary JSON on stdout")
    fit.add_argument("--out", help="also write the full report to this folder")
    fit.add_argument("--no-progress", action="store_true", help="no sampling progress bar")
    sub.add_parser("datasets", help="list the bundled datasets")
    _batch_parser(sub)
    return parser


def _batch_parser(sub: Any) -> None:
    batch = sub.add_parser(
        "batch",
        help="fit many meta-analyses (a long CSV or a folder of CSVs) into one table",
        description=(
            "Fit every analysis of TASKS (a CSV with one row per study and an analysis-id column, "
            "or a folder with one CSV per analysis) under every engine and prior given. Rows are "
            "written to OUT as tasks finish; running the same command again resumes."
        ),
    )
    batch.add_argument("tasks", help="long CSV file, or a folder of CSV files")
    batch.add_argument("--out", required=True, help="output folder (resumable)")
    batch.add_argument(
        "--scheduler",
        help="'processes' (a local Dask cluster) or the address of a Dask scheduler, e.g. "
        "tcp://10.0.0.5:8786 (default: run in this process)",
    )
    batch.add_argument("--workers", type=int, help="worker processes with --scheduler processes")
    batch.add_argument(
        "--analysis", default="analysis", help="analysis-id column (default: analysis)"
    )
    for name, text in [
        ("estimate", "column with the ratio (with --lower, --upper)"),
        ("lower", "column with the lower CI bound"),
        ("upper", "column with the upper CI bound"),
        ("y", "column with log-scale estimates (with --se)"),
        ("se", "column with their standard errors"),
        ("study", "column with study labels"),
    ]:
        batch.add_argument(f"--{name}", help=text)
    batch.add_argument("--measure", default="HR", type=str.upper, help="HR, OR, RR… (default HR)")
    batch.add_argument(
        "--ci-level", default="0.95", help="CI level of the input CIs (default 0.95)"
    )
    batch.add_argument(
        "--engine",
        action="append",
        help="exact (default), nuts, or a frequentist method (REML, DL…); repeatable",
    )
    batch.add_argument("--tau-prior", action="append", help="e.g. halfnormal(0.5); repeatable")
    batch.add_argument(
        "--tau-catalogue", help="every tau prior of a catalogue, e.g. logHR (see docs/priors.md)"
    )
    batch.add_argument("--mu-prior", action="append", help="e.g. normal(0,1); repeatable")
    batch.add_argument("--moderator", action="append", default=[], help="moderator column")
    batch.add_argument("--draws", type=int, help="NUTS draws per chain")
    batch.add_argument("--tune", type=int, help="NUTS tuning steps per chain")
    batch.add_argument("--chains", type=int, help="NUTS chains")
    batch.add_argument("--sampler", choices=["pymc", "nutpie"], help="NUTS sampler")
    batch.add_argument(
        "--posteriors", action="store_true", help="keep each posterior (OUT/posteriors/)"
    )
    batch.add_argument(
        "--leave-one-out",
        action="store_true",
        help="leave-one-out summary columns: which analyses hang on one study",
    )
    batch.add_argument(
        "--small-study",
        action="store_true",
        help="small-study-effect columns: Egger/Begg p, trim-and-fill, PET-PEESE, model averaging",
    )
    batch.add_argument("--seed", type=int, default=0, help="batch random seed (default 0)")
    batch.add_argument("--no-progress", action="store_true", help="no progress line")


def _run_batch(args: argparse.Namespace) -> int:
    from hiermeta import batch

    columns = {
        name: getattr(args, name)
        for name in ("estimate", "lower", "upper", "y", "se", "study")
        if getattr(args, name)
    }
    try:
        level: float | str = check_level(float(args.ci_level), "--ci-level")
    except ValueError as err:
        if isinstance(err, InputError):
            raise
        level = args.ci_level  # a column name
    columns.update(measure=args.measure, ci_level=level)
    if args.moderator:
        columns["covariates"] = list(args.moderator)
    nuts = {
        name: getattr(args, name)
        for name in ("draws", "tune", "chains", "sampler")
        if getattr(args, name) is not None
    }
    out = Path(args.out)
    tau_priors: list[Any] = list(args.tau_prior or [])
    if args.tau_catalogue:
        from hiermeta.priors import catalogue

        tau_priors += list(catalogue(args.tau_catalogue).values())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HiermetaWarning)
        try:
            result = batch(
                args.tasks,
                engine=args.engine or "exact",
                tau_prior=tau_priors or None,
                mu_prior=args.mu_prior,
                moderators=args.moderator or None,
                nuts=nuts or None,
                analysis=args.analysis,
                columns=columns,
                out=out,
                scheduler=args.scheduler,
                n_workers=args.workers,
                posteriors=args.posteriors,
                leave_one_out=args.leave_one_out,
                small_study=args.small_study,
                random_seed=args.seed,
                progress=not args.no_progress,
            )
        except KeyboardInterrupt:
            _say(
                f"hiermeta: interrupted; finished tasks are saved in {out}/ — run the same "
                "command again to resume",
                file=sys.stderr,
            )
            return 130
    for record in caught:
        if issubclass(record.category, HiermetaWarning):
            _say(f"hiermeta: warning: {record.message}", file=sys.stderr)
    table = result.table
    failed = int((table["status"] == "failed").sum())
    _say(
        f"{len(table)} tasks: {len(table) - failed} fitted, {failed} failed "
        f"({result.ran} run now, {result.resumed} already done) in {result.seconds:.1f} s"
    )
    _say(f"results: {out / 'results.csv'}")
    return 0


#: The column options of each input kind of ``fit`` (converter argument names); the first
#: option of each kind is the one that says which kind is meant.
FIT_INPUTS = {
    "ratio_ci": ("estimate", "lower", "upper"),
    "log_se": ("y", "se"),
    "2x2": ("ai", "bi", "ci", "di"),
    "events": ("events1", "n1", "events2", "n2"),
    "means": ("m1", "sd1", "n1", "m2", "sd2", "n2"),
    "proportions": ("events", "n"),
    "correlations": ("r", "n"),
    "oe_v": ("o_minus_e", "v"),
}
#: The measure each input kind assumes when --measure is not given.
FIT_MEASURE = {
    "2x2": "OR",
    "events": "OR",
    "means": "SMD",
    "proportions": "PLO",
    "correlations": "ZCOR",
}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _fit_input(args: argparse.Namespace) -> str:
    """Which input kind the given column options describe (exactly one must be complete)."""
    given = [kind for kind, names in FIT_INPUTS.items() if getattr(args, names[0])]
    if len(given) != 1:
        options = "; ".join(" ".join(map(_option, names)) for names in FIT_INPUTS.values())
        raise InputError(f"give the columns of one input kind: {options}")
    kind = given[0]
    missing = [_option(n) for n in FIT_INPUTS[kind] if not getattr(args, n)]
    if missing:
        raise InputError(f"{kind} input needs {', '.join(missing)} as well")
    return kind


def _spec_for_fit(args: argparse.Namespace) -> dict[str, Any]:
    """The spec (as a dictionary) equivalent to the ``fit`` arguments: one runner for both."""
    if _is_revman(args):
        data: dict[str, Any] = {"revman": Path(args.csv).name}
        if not args.outcome:
            raise InputError(
                f"{Path(args.csv).name}: a RevMan file needs --outcome (an outcome id or name)"
            )
        data["outcome"] = args.outcome
        if args.measure:
            data["measure"] = args.measure
    else:
        data = _fit_data(args)
    priors = {k: v for k, v in (("tau", args.tau_prior), ("mu", args.mu_prior)) if v}
    spec: dict[str, Any] = {
        "title": f"Meta-analysis of {Path(args.csv).name}",
        "data": data,
        "priors": priors,
        "engines": {
            "bayesian": [args.engine],
            "frequentist": [args.method],
            "ci": [args.ci_method],
        },
        "nuts": {"random_seed": args.seed},
    }
    covariates = list(args.moderator) + ([args.cumulative] if args.cumulative else [])
    if covariates:
        data["covariates"] = list(dict.fromkeys(covariates))
    if args.moderator:
        spec["model"] = {"moderators": list(args.moderator)}
    if args.influence:
        spec["influence"] = {"leave_one_out": True, "diagnostics": True}
    if args.cumulative:
        spec["cumulative"] = {"order": args.cumulative}
    if args.small_study:
        spec["small_study"] = {}
    return spec


def _is_revman(args: argparse.Namespace) -> bool:
    return Path(args.csv).suffix.lower() == ".rm5"


def _fit_data(args: argparse.Namespace) -> dict[str, Any]:
    """The spec's [data] table for a CSV and the column options."""
    kind = _fit_input(args)
    data: dict[str, Any] = {"csv": Path(args.csv).name, "input": kind}
    data.update({n: getattr(args, n) for n in FIT_INPUTS[kind]})
    data["measure"] = args.measure or FIT_MEASURE.get(kind, "HR")
    if kind == "ratio_ci":
        try:
            data["ci_level"] = float(args.ci_level)
        except ValueError:
            data["ci_level"] = args.ci_level
    for name in ("study", "sep", "decimal"):
        if getattr(args, name):
            data[name] = getattr(args, name)
    return data


def _check_fit_columns(args: argparse.Namespace) -> None:
    """Every named column exists in the CSV: an error names the option and the file."""
    import hiermeta as hm

    path = Path(args.csv)
    if _is_revman(args):
        return  # the RevMan reader names the outcome and its studies itself
    frame = hm.read_csv(path, args.sep, args.decimal)
    named = {_option(n): getattr(args, n) for names in FIT_INPUTS.values() for n in names}
    named["--study"] = args.study
    named["--cumulative"] = args.cumulative
    for column in args.moderator:
        if column not in frame.columns:
            named[f"--moderator {column}"] = column
    for option, column in named.items():
        if column and column not in frame.columns:
            raise InputError(
                f"{option.split()[0]} {column!r}: no such column in {path.name}; "
                f"columns are {list(frame.columns)}"
            )


def _run_spec(
    spec: Any, out: Path | None, as_json: bool, progress: bool, index_link: str = ""
) -> dict:
    import hiermeta as hm

    with warnings.catch_warnings():
        warnings.simplefilter("always", HiermetaWarning)
        warnings.showwarning = _show_warning
        analysis = hm.run_spec(spec, progressbar=progress)
        if out is not None:
            hm.report.write_report(analysis, out, index_link=index_link)
    summary: dict = hm.report.build_summary(analysis)
    if not as_json and out is not None:
        _say(f"{analysis.spec.name}: report written to {out}/report.html", file=sys.stderr)
    if not as_json:
        _print_summary(summary)
    return summary


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    """Warnings, one line each, as they happen (a retry of the sampler is announced live)."""
    if issubclass(category, HiermetaWarning):
        _say(f"hiermeta: warning: {message}", file=sys.stderr)
    else:
        _say(f"{category.__name__}: {message}", file=sys.stderr)


def _print_summary(summary: dict) -> None:
    """The statements, the heterogeneity line and each frequentist fit, in plain text."""
    for line in summary["statements"]:
        _say(f"  {line}")
    _say(f"  Heterogeneity ({summary['primary_engine']}): {summary['heterogeneity']}")
    for label, fit in summary["frequentist"].items():
        _say(f"  Frequentist {label}: {_frequentist_text(summary['measure'], fit)}")
    if "nested" in summary:
        _say(
            f"  By number of metastatic organs ({summary['nested']['engine']}): {summary['nested']['answer']}"
        )
    if "small_study" in summary:
        for line in summary["small_study"]["answer"]:
            _say(f"  Small-study effects: {line}")


def _frequentist_text(measure: str, fit: dict) -> str:
    """Pooled effect (or one per subgroup), prediction interval and heterogeneity."""
    from hiermeta import MEASURES

    info = MEASURES[measure]
    m = info.reported  # "HR", "proportion", "r"

    def natural(x: float) -> float:
        return float(info.to_natural(x))

    level = f"{fit['ci_level']:.0%} CI"
    if fit["levels"]:
        effects = "; ".join(
            f"{r['moderator']} = {r['level']}: {m} {natural(r['estimate']):.2f} "
            f"({level} {natural(r['low']):.2f} to {natural(r['high']):.2f})"
            for r in fit["levels"]
        )
    else:
        values = fit["ratio"] or fit
        effects = (
            f"{m} {values['estimate']:.2f} ({level} {values['ci_low']:.2f} to "
            f"{values['ci_high']:.2f})"
        )
        if fit["pi_low"] is not None:
            effects += (
                f"; prediction interval ({fit['pi_kind']}) "
                f"{values['pi_low']:.2f} to {values['pi_high']:.2f}"
            )
    return (
        f"{effects}; tau² = {fit['tau2']:.3g}, I² = {fit['i2']:.0f}%, Q = {fit['q']:.2f} "
        f"(p {_p(fit['q_p'])})"
    )


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "datasets":
        from hiermeta import datasets

        _say(datasets().drop(columns=["source"]).to_string())
        return 0
    if getattr(args, "out", None):
        _check_out(Path(args.out))  # before anything runs
    if args.command == "batch":
        return _run_batch(args)
    # progress tables only on a terminal; logs and CI get one line per sampling attempt
    interactive = sys.stderr.isatty()
    progress = interactive and not getattr(args, "no_progress", False) and not args.json
    _log_attempts(progress)
    import hiermeta as hm

    if args.command == "run":
        specs = [hm.load_spec(p) for p in args.spec]  # every spec checked before anything runs
        several = len(specs) > 1
        results = {}
        for spec, folder in zip(specs, _folder_names(specs), strict=True):
            out = Path(args.out) / folder if several else Path(args.out)
            link = "../index.html" if several else ""
            results[folder] = _run_spec(spec, out, args.json, progress, link)
        if several:
            hm.report.write_index(Path(args.out), results)
        if args.json:
            payload = next(iter(results.values())) if not several else results
            _say_json(payload, indent=2, ensure_ascii=False)
        return 0
    # fit: the same runner, on a spec built from the options (messages name the CSV)
    raw = _spec_for_fit(args)  # one complete input kind
    _check_fit_columns(args)  # every named column exists
    spec = hm.spec_from_dict(raw, Path(args.csv))
    summary = _run_spec(spec, Path(args.out) if args.out else None, args.json, progress)
    if args.json:
        _say_json(summary, indent=2, ensure_ascii=False)
    return 0


def _check_out(out: Path) -> None:
    """``--out`` must be a folder or a path that can become one: not a file, not a broken
    symbolic link (writing would fail only after the whole analysis)."""
    if out.is_symlink() and not out.exists():
        raise InputError(
            f"--out {str(out)!r} is a broken symbolic link (to {str(out.readlink())!r})"
        )
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} exists and is not a folder")


def _log_attempts(progress: bool) -> None:
    """Without a progress bar (logs, CI), one line per sampling attempt on stderr."""
    import logging

    logger = logging.getLogger("hiermeta")
    if not progress and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("hiermeta: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _say(*parts: object, file: TextIO | None = None) -> None:
    """print, with control characters from the data (escape sequences included) shown as
    ``\\xNN`` instead of being executed by the terminal."""
    print(printable(" ".join(str(p) for p in parts)), file=file or sys.stdout)


def _say_json(value: Any, **options: Any) -> None:
    """JSON on stdout; C1 control characters escaped too (json leaves them raw)."""
    text = json.dumps(value, **options)
    print(re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text))


def _folder_names(specs: Sequence[Any]) -> list[str]:
    """One output folder per spec: its file name, prefixed by its folder when two specs share
    a name (``a/x.toml`` and ``b/x.toml`` → ``a-x``, ``b-x``), numbered if that still clashes."""
    names = [spec.name for spec in specs]
    names = [
        f"{spec.path.parent.name}-{spec.name}" if names.count(spec.name) > 1 else spec.name
        for spec in specs
    ]
    out: list[str] = []
    for name in names:
        candidate, number = name, 2
        while candidate in out:
            candidate, number = f"{name}-{number}", number + 1
        out.append(candidate)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hiermeta`` command; returns the exit code."""
    try:
        return _main(argv)
    except InputError as err:
        _say(f"hiermeta: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as err:  # read-only or full file system, a path that is a file, …
        where = f" {err.filename!r}" if err.filename else ""
        _say(
            f"hiermeta: error: cannot write or read{where}: {err.strerror or err}", file=sys.stderr
        )
        return EXIT_INPUT
    except KeyboardInterrupt:
        _say("hiermeta: interrupted; the output folder was not changed", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
