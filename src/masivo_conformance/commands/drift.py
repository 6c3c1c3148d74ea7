"""Compare what a target answers now with what was recorded (the cassettes), structurally.

The recorded scenarios run again against the live target (fresh customers); every answer
is compared with its recording: status code, content type, presence and JSON type of
every member, enum values. Ids, timestamps and tokens are masked. A difference is
breaking (member removed, type changed, status class changed, enum value gone, content
type changed) or additive (new member, new enum value, status changed within its class).
Text that is not valid Unicode (a lone surrogate such as "\\ud800" in a JSON body) is read
as U+FFFD and counted in a note line (and in drift.json's "notes").
Exit 1 on breaking drift, 0 otherwise, 2 when the run cannot happen.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
from pathlib import Path

from masivo_conformance.commands._options import (
    add_output_arguments,
    add_target_arguments,
    describe,
    print_written,
    settings_from_args,
)
from masivo_conformance.recording.structure_diff import compare_folders
from masivo_conformance.reporting import report
from masivo_conformance.suite.cassette_runs import (
    DEFAULT_CASSETTES,
    Recording,
    check_cassettes,
    record_scenarios,
)
from masivo_conformance.suite.target import live_target

HELP = "compare a live target's answers with the recorded cassettes (drift report)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "--cassettes",
        type=Path,
        default=DEFAULT_CASSETTES,
        help=f"recorded cassettes (default ./{DEFAULT_CASSETTES})",
    )
    parser.add_argument("--json", type=Path, help="also write the drift report as JSON here")
    add_output_arguments(parser, files="drift.html, drift.md and drift.json")


def execute(args: argparse.Namespace) -> int:
    recording = Recording.read(args.cassettes)
    check_cassettes(args.cassettes)
    # Fresh customers: a durable target may still hold the recorded ones.
    seed = secrets.randbelow(2**31)
    settings = settings_from_args(args, seed=seed)
    with (
        tempfile.TemporaryDirectory(prefix="masivo-drift-") as tmp,
        live_target(settings) as target,
    ):
        live = Path(tmp) / "live"
        run = record_scenarios(
            live,
            target,
            seed=seed,
            quiet=not args.verbose,
            extra=["-q", "--tb=no"],
        )
        drift = compare_folders(args.cassettes, live, recording.base_path)
    failed = sum(1 for o in run.outcomes if o.outcome == "failed")
    if not args.quiet:
        print(
            f"drift of {describe(settings)} against cassettes recorded from "
            f"{recording.target} ({len(run.outcomes)} scenarios re-run, {failed} failed live)"
        )
    print(report.render_drift_text(drift), end="")
    for note in drift.notes:
        print(f"note: {note}")
    written: list[Path] = []
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(report.drift_json(drift), encoding="utf-8")
        written.append(args.json)
    if args.report_dir:
        written += report.write_drift_reports(drift, args.report_dir)
    print_written(written, quiet=args.quiet)
    return drift.exit_code()
