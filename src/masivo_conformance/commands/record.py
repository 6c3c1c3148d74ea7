"""Record the deterministic scenarios against a target as cassettes (one per test).

Secrets are scrubbed before anything is written. With no base URL the embedded
reference server is recorded; the committed cassettes come from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from masivo_conformance import __version__
from masivo_conformance.commands._options import (
    add_target_arguments,
    describe,
    settings_from_args,
)
from masivo_conformance.errors import EXIT_NONCONFORMANT, EXIT_OK
from masivo_conformance.suite.cassette_runs import (
    DEFAULT_CASSETTES,
    RECORD_SEED,
    check_record_folder,
    record_scenarios,
    recording_for,
)
from masivo_conformance.suite.target import live_target

HELP = "record the deterministic scenarios as cassettes (secrets scrubbed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "--cassettes",
        type=Path,
        default=DEFAULT_CASSETTES,
        help=f"cassette folder (default ./{DEFAULT_CASSETTES})",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the result")


def execute(args: argparse.Namespace) -> int:
    check_record_folder(args.cassettes)  # before a target is started or touched
    settings = settings_from_args(args, seed=RECORD_SEED)
    with live_target(settings) as live:
        if not args.quiet:
            print(f"masivo-conformance {__version__}: recording {describe(settings)}")
        run = record_scenarios(
            args.cassettes,
            live,
            seed=RECORD_SEED,
            # pytest's progress as `run` shows it: no session header, no file paths.
            extra=["-q", "--tb=no", "-rN"],
            quiet=args.quiet,
        )
        recording_for(
            RECORD_SEED, live.brand_id or "", live.base_url or "", describe(settings)
        ).write(args.cassettes)
    failed = [o.nodeid for o in run.outcomes if o.outcome == "failed"]
    count = len(list(args.cassettes.rglob("*.yaml")))
    print(
        f"recorded {count} cassettes from {describe(settings)} into {args.cassettes}"
        + (
            f"; {len(failed)} scenario(s) failed while recording: {', '.join(failed)}"
            if failed
            else ""
        )
    )
    return EXIT_NONCONFORMANT if failed else EXIT_OK
