"""Replay the recorded scenarios offline (network blocked) against the committed cassettes.

The answers come from the cassettes and are judged by the current schemas and checks,
so a change to the contract data that recorded reality contradicts fails here, with no
server.

AUTH-2 and AUTH-3 need a live authorize, which no cassette holds (the recorded token is
redacted): they are shown as "not checked on replay" and left out of the exit code, as
--requirement leaves out the ids it did not select. Every other requirement counts as
in `run`.

exit codes:
  0  every MUST but AUTH-2 and AUTH-3 was checked and held
  1  a MUST failed (or a replayed scenario failed)
  2  a cassette is missing, corrupt or truncated (the message names the file)
  3  inconclusive: nothing failed, but a MUST other than AUTH-2 and AUTH-3 was not
     checked, or a test ended on an error
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from masivo_conformance import __version__
from masivo_conformance.commands._options import (
    add_output_arguments,
    prepare_report_dir,
    print_written,
)
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.reporting import report
from masivo_conformance.reporting.results import (
    RequirementResult,
    RunResult,
    TestError,
    errors_of,
    fold,
)
from masivo_conformance.suite.cassette_runs import (
    DEFAULT_CASSETTES,
    LIVE_AUTHORIZE_REASON,
    NEEDS_LIVE_AUTHORIZE,
    replay_scenarios,
)

HELP = "replay the recorded scenarios offline against the cassettes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cassettes",
        type=Path,
        default=DEFAULT_CASSETTES,
        help=f"cassette folder (default ./{DEFAULT_CASSETTES})",
    )
    add_output_arguments(parser)


def on_replay(row: RequirementResult) -> RequirementResult:
    """A row not checked, with the reason that holds on replay (a test's own skip reason
    speaks of a target given a token only: replay was given no target at all)."""
    if row.status != "not checked":
        return row
    if row.id in NEEDS_LIVE_AUTHORIZE:
        return replace(row, reason=LIVE_AUTHORIZE_REASON)
    return replace(row, reason=f"not checked on replay: {row.reason}")


def replay_result(
    rows: list[RequirementResult],
    *,
    target: str,
    seed: int | None = None,
    duration_s: float = 0.0,
    request_count: int = 0,
    errors: list[TestError] | None = None,
) -> RunResult:
    """Replay judges what the recorded scenarios judged. The rules that need a live
    authorize are left out of the exit code; any other requirement not checked is
    inconclusive (exit 3), as in `run` (a scenario that did not replay, say)."""
    return RunResult(
        target=target,
        profile="replay",
        seed=seed,
        strict=False,
        duration_s=duration_s,
        request_count=request_count,
        requirements=rows,
        out_of_reach=[r.id for r in rows if r.id in NEEDS_LIVE_AUTHORIZE],
        errors=errors or [],
        suite_version=__version__,
    )


def execute(args: argparse.Namespace) -> int:
    extra = ["-v", "--tb=short"] if args.verbose else ["-q", "--tb=no", "-rN"]
    if args.report_dir:
        prepare_report_dir(args.report_dir)
        extra += ["--junitxml", str(args.report_dir / "junit.xml")]
    recording, run = replay_scenarios(args.cassettes, extra=extra, quiet=args.quiet)
    result = replay_result(
        [on_replay(r) for r in fold(catalogue(), run.outcomes, amounts_moved=run.amounts_moved)],
        target=f"cassettes {args.cassettes} (recorded from {recording.target})",
        seed=recording.seed,
        duration_s=round(run.duration_s, 2),
        request_count=run.request_count,
        errors=errors_of(run.outcomes),
    )
    print(report.render_matrix(result, args.report_dir))
    if args.report_dir:
        result.write(args.report_dir / "result.json")
        written = [args.report_dir / "result.json", *report.write_reports(result, args.report_dir)]
        junit = args.report_dir / "junit.xml"
        print_written([*written, junit] if junit.is_file() else written, quiet=args.quiet)
    failed = [o for o in run.outcomes if o.outcome == "failed"]
    return result.exit_code() or (1 if failed or run.exit_code not in (0, 5) else 0)
