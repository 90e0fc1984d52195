"""The ``hiermeta`` command: calls the public API only.

Bad input ends with exit code 2, a one-line message naming the study, key or column, no
traceback, and nothing written to the output folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hiermeta.errors import HiermetaWarning, InputError

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
    fit = sub.add_parser("fit", help="fit a CSV of ratios with confidence intervals")
    fit.add_argument("csv", help="CSV file, one row per study")
    fit.add_argument("--measure", default="HR", type=str.upper, help="HR, OR, RR (default HR)")
    fit.add_argument("--estimate", required=True, help="column with the ratio")
    fit.add_argument("--lower", required=True, help="column with the lower CI bound")
    fit.add_argument("--upper", required=True, help="column with the upper CI bound")
    fit.add_argument("--study", help="column with study labels")
    fit.add_argument(
        "--ci-level", default="0.95", help="CI level as a fraction, or a column name (default 0.95)"
    )
    fit.add_argument(
        "--moderator", action="append", default=[], help="moderator column (repeatable)"
    )
    fit.add_argument(
        "--tau-prior",
        default="halfnormal(0.5)",
        help="e.g. halfnormal(0.5), halfcauchy(0.5), inversegamma(2.42,0.30)",
    )
    fit.add_argument("--mu-prior", default="normal(0,1)", help="e.g. normal(0,1), flat()")
    fit.add_argument("--engine", default="exact", choices=["exact", "nuts"])
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
        level: float | str = float(args.ci_level)
    except ValueError:
        level = args.ci_level
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
                random_seed=args.seed,
                progress=not args.no_progress,
            )
        except KeyboardInterrupt:
            print(
                f"hiermeta: interrupted; finished tasks are saved in {out}/ — run the same "
                "command again to resume",
                file=sys.stderr,
            )
            return 130
    for record in caught:
        if issubclass(record.category, HiermetaWarning):
            print(f"hiermeta: warning: {record.message}", file=sys.stderr)
    table = result.table
    failed = int((table["status"] == "failed").sum())
    print(
        f"{len(table)} tasks: {len(table) - failed} fitted, {failed} failed "
        f"({result.ran} run now, {result.resumed} already done) in {result.seconds:.1f} s"
    )
    print(f"results: {out / 'results.csv'}")
    return 0


def _spec_for_fit(args: argparse.Namespace) -> str:
    """A TOML spec equivalent to the ``fit`` arguments (so both paths share one runner)."""

    def quote(value: str) -> str:
        return json.dumps(value)

    try:
        level: str = str(float(args.ci_level))
    except ValueError:
        level = quote(args.ci_level)
    lines = [
        f"title = {quote('Meta-analysis of ' + Path(args.csv).name)}",
        "[data]",
        f"csv = {quote(str(Path(args.csv).resolve()))}",
        'input = "ratio_ci"',
        f"measure = {quote(args.measure)}",
        f"estimate = {quote(args.estimate)}",
        f"lower = {quote(args.lower)}",
        f"upper = {quote(args.upper)}",
        f"ci_level = {level}",
    ]
    if args.study:
        lines.append(f"study = {quote(args.study)}")
    if args.moderator:
        lines.append(f"covariates = {json.dumps(args.moderator)}")
        lines += ["[model]", f"moderators = {json.dumps(args.moderator)}"]
    lines += [
        "[priors]",
        f"tau = {quote(args.tau_prior)}",
        f"mu = {quote(args.mu_prior)}",
        "[engines]",
        f"bayesian = [{quote(args.engine)}]",
        "[nuts]",
        f"random_seed = {args.seed}",
    ]
    return "\n".join(lines) + "\n"


def _run_spec(path: Path, out: Path | None, as_json: bool, progress: bool) -> dict:
    import hiermeta as hm

    build_summary, write_report = hm.report.build_summary, hm.report.write_report
    run_spec = hm.run_spec

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HiermetaWarning)
        analysis = run_spec(path, progressbar=progress)
        if out is not None:
            write_report(analysis, out)
    for record in caught:
        if issubclass(record.category, HiermetaWarning):
            print(f"hiermeta: warning: {record.message}", file=sys.stderr)
    summary = build_summary(analysis)
    if not as_json and out is not None:
        print(f"{analysis.spec.name}: report written to {out}/report.html", file=sys.stderr)
        for line in summary["statements"]:
            print(f"  {line}")
    return summary


def _write_index(out: Path, results: dict[str, dict]) -> None:
    """out/index.html linking each spec's report, with its headline statement."""
    import html

    items = []
    for name, summary in results.items():
        first = summary["statements"][0] if summary["statements"] else ""
        flag = " — DIAGNOSTICS FAILED" if summary["failed_diagnostics"] else ""
        items.append(
            f"<li><a href='{name}/report.html'>{html.escape(summary['title'])}</a>{flag}<br><small>{html.escape(first)}</small></li>"
        )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>hiermeta reports</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto}li{margin:.8rem 0}</style>"
        "</head><body><h1>hiermeta reports</h1><ul>" + "".join(items) + "</ul></body></html>"
    )
    (out / "index.html").write_text(page, encoding="utf-8")


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "datasets":
        from hiermeta import datasets

        print(datasets().drop(columns=["source"]).to_string())
        return 0
    if args.command == "batch":
        return _run_batch(args)
    progress = not getattr(args, "no_progress", False) and not args.json
    if args.command == "run":
        paths = [Path(p) for p in args.spec]
        results = {}
        for path in paths:
            out = Path(args.out) if len(paths) == 1 else Path(args.out) / path.stem
            results[path.stem] = _run_spec(path, out, args.json, progress)
        if len(paths) > 1:
            _write_index(Path(args.out), results)
        if args.json:
            payload = next(iter(results.values())) if len(results) == 1 else results
            print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    # fit
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "fit.toml"
        spec.write_text(_spec_for_fit(args), encoding="utf-8")
        summary = _run_spec(spec, Path(args.out) if args.out else None, args.json, progress)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    elif not args.out:
        for line in summary["statements"]:
            print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hiermeta`` command; returns the exit code."""
    try:
        return _main(argv)
    except InputError as err:
        print(f"hiermeta: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("hiermeta: interrupted; the output folder was not changed", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
