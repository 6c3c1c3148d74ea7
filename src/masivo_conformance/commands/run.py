"""Run the conformance suite against a target and print the per-requirement matrix.

A requirement passes only when a check of it ran and held; fails when a check was
violated; is "not checked" (with the reason) otherwise.

exit codes:
  0  every MUST requirement was checked and held (SHOULD failures are warnings)
  1  a MUST failed (or a SHOULD, with --strict)
  2  the run could not happen (bad settings, target unreachable, credentials refused),
     or the target stopped answering mid-run
  3  inconclusive: nothing failed, but a MUST was not checked or a test erred
With --requirement, the exit code follows the selected requirements alone.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from masivo_conformance import __version__
from masivo_conformance.commands._options import (
    add_output_arguments,
    add_target_arguments,
    describe,
    prepare_report_dir,
    print_written,
    requirement_id,
    settings_from_args,
    worker_count,
)
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import EXIT_CANNOT_RUN, TargetError
from masivo_conformance.reporting import report
from masivo_conformance.reporting.baseline import load_baseline
from masivo_conformance.reporting.results import RunResult, errors_of, fold
from masivo_conformance.suite import profiles, run_plan
from masivo_conformance.suite.runner import SuiteRun, run_pytest, suite_path
from masivo_conformance.suite.session import SuiteOptions
from masivo_conformance.suite.settings import Settings
from masivo_conformance.suite.target import checked

HELP = "run the conformance suite against a target and print the requirement matrix"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "--profile",
        choices=profiles.NAMES,
        help="budget (every requirement once, <= 300 requests, ~2 s), quick (~5.5 s), ci "
        "(derandomised, ~10 s) or deep (~3 min), times against the embedded server; "
        "default: budget with --max-requests below 1000, else ci",
    )
    parser.add_argument("--seed", type=int, help="seed that makes the run reproducible")
    parser.add_argument(
        "--requirement",
        action="append",
        metavar="ID",
        type=requirement_id,
        help="run only the tests of this requirement id (repeatable; any case: rev-2 is REV-2)",
    )
    parser.add_argument("--strict", action="store_true", help="a failing SHOULD fails the run")
    parser.add_argument("--junit", type=Path, help="write JUnit XML here")
    parser.add_argument("--max-requests", type=int, help="cap the run's requests")
    parser.add_argument(
        "--max-time",
        type=float,
        metavar="SECONDS",
        help="send no request after this many seconds: what was not judged by then is "
        "not checked (for slow targets and CI time limits)",
    )
    parser.add_argument(
        "-n",
        "--workers",
        type=worker_count,
        help="pytest-xdist workers (a number >= 0, or 'auto'; 0: none); default: 2 for "
        "quick, ci and deep against the embedded server with no cap, else none",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="YAML file of known deviations: a failure listed there (with a reason, optionally "
        "an expiry date) is reported as accepted and does not fail the run",
    )
    parser.add_argument(
        "--save-traffic",
        type=Path,
        metavar="DIR",
        help="save every exchange of the run with the target in DIR, redacted, as HAR "
        "(traffic-main.har; one per worker with -n) and vcrpy cassette (traffic-main.yaml) "
        "files, which `masivo-conformance judge` and devtools read",
    )
    add_output_arguments(parser)


# Workers when -n is not given, for an exploring profile on the embedded server: the run
# is CPU-bound on this machine, and two processes (each with its own server) use a
# second core: quick 7.1 s -> 5.3 s on 2 cores (docs/benchmarks.md). Against a base URL
# one process stays the default: a live target's rate limits and request budget are
# spent in plan order (judge every requirement, then explore), and a terminal gets the
# progress line.
DEFAULT_WORKERS = 2


def default_workers(settings: Settings, profile: str, cpus: int | None) -> str | None:
    """The -n a run uses when none was given (None: no workers)."""
    exploring = profile != "budget"  # budget is start-up bound: a worker costs more than it saves
    uncapped = settings.max_requests is None and settings.max_time is None
    if settings.embedded and exploring and uncapped and (cpus or 1) >= DEFAULT_WORKERS:
        return str(DEFAULT_WORKERS)
    return None


def _authorizes(settings: Settings) -> bool | None:
    """Whether the run makes its own authorize (run_plan.reach): with a key and no token yes,
    with a token only no, with both only once the token nears its exp (unknown)."""
    if settings.embedded or not settings.token:
        return True
    return None if settings.api_key else False


def _write_reports(
    result: RunResult, report_dir: Path, *, quiet: bool, junit: Path | None = None
) -> None:
    """result.json, the reports and (pytest wrote it) junit.xml, each named as written;
    the reproducer scripts are counted, not listed."""
    result.write(report_dir / "result.json")
    written = [report_dir / "result.json", *report.write_reports(result, report_dir)]
    if junit is not None and junit.is_file():
        written.append(junit)
    print_written(written, quiet=quiet)


def _ending_notes(result: RunResult, run: SuiteRun) -> list[str]:
    """What the report says of how the run ended: cut short, or the target stopped
    answering (with the curl lines of the last requests before, the suspects)."""
    notes = []
    if run.budget_spent:
        unchecked = sum(1 for r in result.requirements if r.status == "not checked")
        notes.append(
            f"the run stopped early ({run.budget_spent}): {unchecked} requirements not checked"
        )
    if result.stopped:
        notes.append(f"{result.stopped} (the verdicts up to there are in this report)")
        notes.extend(
            f"suspect {n} (sent {'last' if n == 1 else f'{n} requests before'}): {line}"
            for n, line in enumerate(run.suspects, start=1)
        )
    return notes


def execute(args: argparse.Namespace) -> int:
    settings = settings_from_args(
        args, max_requests=args.max_requests, max_time=args.max_time, seed=args.seed
    )
    prepare_report_dir(args.report_dir)
    prepare_report_dir(args.junit.parent if args.junit else None, flag="--junit")
    prepare_report_dir(args.save_traffic, flag="--save-traffic")
    known = catalogue()
    selected = [known[i].id for i in args.requirement] if args.requirement else None
    baseline = load_baseline(args.baseline) if args.baseline else None
    settings = checked(settings)
    target = describe(settings)
    picked = args.profile is None  # chosen for the cap: the up-front line says so
    args.profile = run_plan.choose_profile(args.profile, settings.max_requests)
    workers = args.workers or default_workers(settings, args.profile, os.cpu_count())
    if not args.quiet:
        print(
            f"masivo-conformance {__version__}: profile {args.profile} against {target}"
            + (f" on {workers} workers" if workers not in (None, "0") else "")
            + (f", requirements {', '.join(selected)}" if selected else "")
        )
        ids = selected or [r.id for r in known]
        line = run_plan.headline(
            args.profile,
            settings.max_requests,
            ids,
            chosen=picked,
            authorizes=_authorizes(settings),
        )
        if line:
            print(line)
    pytest_args = ["-p", "no:cacheprovider", "--no-header"]
    pytest_args += ["-v", "--tb=short"] if args.verbose else ["-q", "--tb=no", "-rN"]
    junit = args.junit or (args.report_dir / "junit.xml" if args.report_dir else None)
    if junit:
        junit.parent.mkdir(parents=True, exist_ok=True)
        pytest_args += ["--junitxml", str(junit), "-o", "junit_family=xunit2"]
    if workers:
        pytest_args += ["-n", workers]
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    options = SuiteOptions(
        settings,
        profile=args.profile,
        requirements=tuple(selected or ()),
        traffic=args.save_traffic,
    )
    run = run_pytest(
        [suite_path("contract"), suite_path("stateful")], pytest_args, options, quiet=args.quiet
    )
    notes = list(run.notes)
    if not settings.writes_allowed:
        notes.append(
            f"writes to {target} were not allowed: tests that write were not run "
            "(pass --allow-writes)"
        )
    result = RunResult(
        target=target,
        profile=args.profile,
        seed=settings.seed,
        strict=args.strict,
        duration_s=round(run.duration_s, 2),
        request_count=run.request_count,
        requests_by_operation=run.requests_by_operation,
        requirements=fold(
            known,
            run.outcomes,
            selected,
            budget_note=f"not judged before the run's budget ran out ({run.budget_spent})"
            if run.budget_spent
            else "",
        ),
        errors=errors_of(run.outcomes),
        stopped=run.stopped,
        selected=selected is not None,
        suite_version=__version__,
        started_at=started_at,
        notes=notes,
    )
    if baseline is not None:
        today = datetime.now().astimezone().date()
        result.requirements, baseline_notes = baseline.apply(result.requirements, today)
        result.notes.extend(baseline_notes)
    result.notes.extend(_ending_notes(result, run))
    if run.refused:
        # Like a refused key at the preflight: one line, exit 2; the reports still say
        # what little was judged before the step was refused.
        result.notes.append(f"the run stopped: {run.refused}")
        if args.report_dir:
            _write_reports(result, args.report_dir, quiet=True, junit=junit)
        raise TargetError(
            run.refused,
            "every scenario needs this step: check why the target refuses it (run with -v "
            "for the request as a curl line), then run again",
        )
    print(report.render_matrix(result, args.report_dir))
    if args.report_dir:
        _write_reports(result, args.report_dir, quiet=args.quiet, junit=junit)
    elif args.junit and args.junit.is_file():
        print_written([args.junit], quiet=args.quiet)
    interrupted = (
        run.exit_code == pytest.ExitCode.INTERRUPTED and not run.budget_spent and not run.stopped
    )
    return EXIT_CANNOT_RUN if interrupted else result.exit_code()
