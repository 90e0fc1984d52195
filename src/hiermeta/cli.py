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
    return parser


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
    from hiermeta.analysis import run_spec
    from hiermeta.report.writer import build_summary, write_report

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
        from hiermeta.data.datasets import datasets

        print(datasets().drop(columns=["source"]).to_string())
        return 0
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
