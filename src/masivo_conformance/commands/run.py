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

With --shard I/N the run is one part of the plan (a CI matrix job): it writes only its
evidence, --report-dir/result.json, and exits 0 once written (2 when it could not run);
`masivo-conformance merge` folds every shard's result.json into the run's verdict.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from masivo_conformance import __version__
from masivo_conformance.commands._options import (
    add_output_arguments,
    add_target_arguments,
    describe,
    prepare_report_dir,
    requirement_id,
    settings_from_args,
    shard_of,
    worker_count,
)
from masivo_conformance.commands._verdict import (
    Reports,
    RunFacts,
    conclude,
    conclude_shard,
    result_of,
)
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import EXIT_CANNOT_RUN, SettingsError
from masivo_conformance.reporting.baseline import load_baseline
from masivo_conformance.suite import profiles, run_plan
from masivo_conformance.suite.runner import run_pytest, suite_path
from masivo_conformance.suite.session import SuiteOptions
from masivo_conformance.suite.settings import DEFAULT_CONCURRENCY, Settings
from masivo_conformance.suite.shared_budget import SharedCounter, today
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
    parser.add_argument(
        "--daily-budget",
        type=int,
        metavar="N",
        help="send at most N requests to this target per UTC day, across every run on this "
        "machine (counted in the state directory, MASIVO_STATE_DIR or "
        "~/.local/state/masivo-conformance); the run says up front how many are left",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="run up to N scenarios at once, each on customers of its own (default "
        f"{DEFAULT_CONCURRENCY}; 1: one at a time); lowered to 1 at once when the target "
        "answers 429 or its X-RateLimit-Remaining runs low. The verdict does not depend on it",
    )
    parser.add_argument(
        "--shard",
        type=shard_of,
        metavar="I/N",
        help="run part I of N of the plan (CI matrix jobs; needs --report-dir): writes the "
        "part's evidence to result.json for `masivo-conformance merge`, and exits 0 once "
        "written (2 when it could not run)",
    )
    add_output_arguments(parser)


def _check_shard(args: argparse.Namespace) -> None:
    """A shard's evidence goes to result.json, and the baseline is the merged verdict's."""
    if args.shard is None:
        return
    if args.report_dir is None:
        raise SettingsError(
            f"--shard {args.shard} writes its evidence to result.json",
            "give --report-dir DIR (then merge every shard's DIR/result.json)",
        )
    if args.baseline is not None:
        raise SettingsError(
            "--baseline applies to the merged verdict, not to a shard",
            "give it to `masivo-conformance merge` instead",
        )


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


def _collected(profile: str) -> tuple[list[Path], list[str]]:
    """What the run collects (the plan's own test files, or the whole suite), and the
    pytest plugins it turns off: a plan alone fuzzes nothing and runs no state machine,
    so neither schemathesis's nor Hypothesis's plugin is loaded."""
    files = run_plan.test_files(profile)
    if files is None:
        return [suite_path("contract"), suite_path("stateful")], []
    paths = [suite_path(*name.split("/")) for name in files]
    return paths, ["-p", "no:schemathesis", "-p", "no:hypothesispytest"]


def _daily_line(base_url: str, daily_budget: int) -> str:
    """What is left of the target's day, before the run spends any of it."""
    counter = SharedCounter(base_url, "up-front")
    try:
        left = max(daily_budget - counter.spent_today(), 0)
    finally:
        counter.close()
    return (
        f"daily budget: {left} of {daily_budget} requests left for this target today "
        f"(UTC {today()}), counted across every run on this machine"
    )


def execute(args: argparse.Namespace) -> int:
    settings = settings_from_args(
        args,
        max_requests=args.max_requests,
        max_time=args.max_time,
        seed=args.seed,
        daily_budget=args.daily_budget,
        concurrency=args.concurrency,
    )
    _check_shard(args)
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
            + (f", shard {args.shard}" if args.shard else "")
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
        if settings.daily_budget is not None and settings.base_url is not None:
            print(_daily_line(settings.base_url, settings.daily_budget))
    paths, plugins_off = _collected(args.profile)
    pytest_args = ["-p", "no:cacheprovider", "--no-header", *plugins_off]
    pytest_args += ["-v", "--tb=short"] if args.verbose else ["-q", "--tb=no", "-rN"]
    # A shard's junit.xml would list a part of the run: the merged one lists it all.
    whole = args.report_dir is not None and args.shard is None
    junit = args.junit or (args.report_dir / "junit.xml" if whole else None)
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
        shard=args.shard,
    )
    run = run_pytest(paths, pytest_args, options, quiet=args.quiet)
    if not settings.writes_allowed:
        note = (
            f"writes to {target} were not allowed: tests that write were not run "
            "(pass --allow-writes)"
        )
        run = replace(run, notes=[*run.notes, note])
    facts = RunFacts(target, args.profile, settings.seed, args.strict, started_at, selected)
    result = result_of(run, facts, args.shard)
    reports = Reports(args.report_dir, junit, quiet=args.quiet)
    if args.shard is not None and args.report_dir is not None:  # both or none: _check_shard
        code = conclude_shard(result, run, args.shard, args.report_dir, reports)
    else:
        code = conclude(result, run, reports, baseline)
    interrupted = (
        run.exit_code == pytest.ExitCode.INTERRUPTED and not run.budget_spent and not run.stopped
    )
    return EXIT_CANNOT_RUN if interrupted else code
