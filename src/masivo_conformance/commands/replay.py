"""Replay the recorded scenarios offline (network blocked) against the committed cassettes.

The answers come from the cassettes and are judged by the current schemas and checks,
so a change to the contract data that recorded reality contradicts fails here, with no
server. Exit 0 when every replayed scenario holds, 1 when one fails, 2 when a cassette
is missing, corrupt or truncated (the message names the file).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from masivo_conformance import __version__
from masivo_conformance.commands._options import add_output_arguments, prepare_report_dir
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.reporting import report
from masivo_conformance.reporting.results import RunResult, errors_of, fold
from masivo_conformance.suite.cassette_runs import DEFAULT_CASSETTES, replay_scenarios

HELP = "replay the recorded scenarios offline against the cassettes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cassettes",
        type=Path,
        default=DEFAULT_CASSETTES,
        help=f"cassette folder (default ./{DEFAULT_CASSETTES})",
    )
    add_output_arguments(parser)


def execute(args: argparse.Namespace) -> int:
    extra = ["-v", "--tb=short"] if args.verbose else ["-q", "--tb=no", "-rN"]
    if args.report_dir:
        prepare_report_dir(args.report_dir)
        extra += ["--junitxml", str(args.report_dir / "junit.xml")]
    recording, run = replay_scenarios(args.cassettes, extra=extra, quiet=args.quiet)
    # Replay judges what the recorded scenarios judged; the rest needs a live target (the
    # API-key rules: replay holds no key) and is shown as such, outside the exit code.
    rows = [
        replace(r, reason=f"not checked on replay: {r.reason}") if r.status == "not checked" else r
        for r in fold(catalogue(), run.outcomes)
    ]
    result = RunResult(
        target=f"cassettes {args.cassettes} (recorded from {recording.target})",
        profile="replay",
        seed=recording.seed,
        strict=False,
        duration_s=round(run.duration_s, 2),
        request_count=run.request_count,
        requirements=rows,
        out_of_reach=[r.id for r in rows if r.status == "not checked"],
        errors=errors_of(run.outcomes),
        suite_version=__version__,
    )
    print(report.render_matrix(result, args.report_dir))
    if args.report_dir:
        result.write(args.report_dir / "result.json")
        report.write_reports(result, args.report_dir)
    failed = [o for o in run.outcomes if o.outcome == "failed"]
    return result.exit_code() or (1 if failed or run.exit_code not in (0, 5) else 0)
