"""Judge your own recorded traffic: vcrpy cassettes and HAR files, with the suite's checks.

Every exchange with the storefront API (recognised by the contract's paths under any host
and base path; --base-url narrows to one) is judged by every single-call check, and the
multi-call rules are judged wherever the recording shows their premise (a second reverse
of one event, a preview between two wallet reads, ...). Requests of your own that break
the request schemas are client findings, shown apart and charged to no requirement.
Nothing is sent anywhere. Secrets in the inputs (cookies, tokens, API keys) are redacted
from everything printed or written; --scrub-to writes a redacted copy of the inputs.

exit codes:
  0  no MUST requirement was violated in the recorded traffic
  1  a MUST requirement was violated
  2  an input could not be read (one line names the file and what is wrong)
  3  nothing was violated, but a requirement named by --require (or --require-all) was
     not judged by the traffic
"""

from __future__ import annotations

import argparse
from pathlib import Path

from masivo_conformance.commands._options import (
    prepare_report_dir,
    print_written,
    requirement_id,
)
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import CassetteError, SettingsError
from masivo_conformance.recording.shareable import copy_paths, write_shareable
from masivo_conformance.recording.traffic import read_traffic
from masivo_conformance.reporting.judge_report import (
    render_text,
    write_judge_reports,
    write_junit,
)
from masivo_conformance.reporting.judging import judge_traffic

HELP = "judge recorded traffic (vcrpy cassettes, HAR files) with the suite's checks"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a cassette (*.yaml, *.yml, *.json), a HAR file (*.har) or a folder of them",
    )
    parser.add_argument(
        "--base-url",
        help="judge only the exchanges under this URL (default: any host and base path)",
    )
    parser.add_argument(
        "--require",
        action="append",
        metavar="ID",
        type=requirement_id,
        default=[],
        help="exit 3 when the traffic did not judge this requirement (repeatable; any case)",
    )
    parser.add_argument(
        "--require-all",
        action="store_true",
        help="exit 3 when the traffic did not judge every requirement",
    )
    parser.add_argument("--junit", type=Path, help="write JUnit XML here")
    parser.add_argument(
        "--scrub-to",
        type=Path,
        metavar="DIR",
        help="write a redacted copy of every input here (same format and file name)",
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        help="write report.html, summary.md, result.json, junit.xml and traffic.json here",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only the matrix and the verdict"
    )


def _required(args: argparse.Namespace) -> list[str]:
    known = catalogue()
    if args.require_all:
        return [r.id for r in known]
    unknown = [r for r in args.require if r not in known]
    if unknown:
        raise SettingsError(
            f"--require {unknown[0]}: no such requirement",
            "see `masivo-conformance requirements` for the ids",
        )
    return list(dict.fromkeys(args.require))


def execute(args: argparse.Namespace) -> int:
    required = _required(args)
    prepare_report_dir(args.report_dir)
    prepare_report_dir(args.junit.parent if args.junit else None, flag="--junit")
    prepare_report_dir(args.scrub_to, flag="--scrub-to")
    # Every input is read (and its secrets registered) before anything is printed.
    recordings, others = read_traffic(args.paths)
    places = copy_paths(recordings, args.paths, args.scrub_to) if args.scrub_to else {}
    judgement = judge_traffic(
        recordings,
        base_url=args.base_url or "",
        required=required,
        others=[str(p) for p in others],
    )
    if not judgement.coverage.exchanges:
        entries = sum(f["exchanges"] for f in judgement.coverage.files)
        raise CassetteError(
            f"nothing to judge: none of the {entries} recorded exchange(s) is a storefront "
            "operation" + (f" under {args.base_url}" if args.base_url else ""),
            "record traffic with the storefront API (any host and base path), or check --base-url",
        )
    print(render_text(judgement, args.report_dir, quiet=args.quiet), end="")
    written = []
    if args.report_dir:
        written += write_judge_reports(judgement, args.report_dir, args.junit)
    elif args.junit:
        written.append(write_junit(judgement, args.junit))
    written += [write_shareable(r, places[r.path]) for r in recordings if r.path in places]
    print_written(written, quiet=args.quiet)
    return judgement.result.exit_code()
