"""Fold the result.json of every shard of one run (`run --shard I/N`) into its verdict:
one matrix, one set of reports and one exit code, as one run of the same plan gives.

Shards must be parts of one run: the same seed, profile, target, requirements and
masivo-conformance version (this one), each part once, none missing; anything else is
one line and exit 2.

exit codes (as run's):
  0  every MUST requirement was checked and held (SHOULD failures are warnings)
  1  a MUST failed (or a SHOULD, with --strict)
  2  the shards are not the parts of one run, or a shard could not be read, or the
     target stopped answering in a shard
  3  inconclusive: nothing failed, but a MUST was not checked or a test erred
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from masivo_conformance import __version__
from masivo_conformance.commands._options import RUN_REPORT_FILES, prepare_report_dir
from masivo_conformance.commands._verdict import Reports, RunFacts, conclude, result_of
from masivo_conformance.errors import SettingsError
from masivo_conformance.reporting.baseline import load_baseline
from masivo_conformance.reporting.results import RunResult, ShardPart, TestOutcome
from masivo_conformance.suite.runner import SuiteRun
from masivo_conformance.suite.saved_traffic import TRAFFIC_TEST

HELP = "fold the result.json of every shard of a run (run --shard I/N) into one verdict"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results",
        nargs="+",
        type=Path,
        metavar="RESULT.json",
        help="the result.json of every shard (run --shard I/N --report-dir DIR), any order",
    )
    parser.add_argument("--strict", action="store_true", help="a failing SHOULD fails the run")
    parser.add_argument(
        "--junit", type=Path, help="write JUnit XML here (one testcase per requirement)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="YAML file of known deviations, as run's: a failure listed there is reported "
        "as accepted and does not fail the run",
    )
    parser.add_argument("--report-dir", type=Path, help=f"write {RUN_REPORT_FILES} here")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the result")


def _read(path: Path) -> RunResult:
    """A shard's result.json, or one line saying why it is none."""
    try:
        result = RunResult.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(
            f"cannot read {path} ({exc.strerror})", "give a shard's result.json"
        ) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise SettingsError(
            f"{path} is not a masivo-conformance result.json ({type(exc).__name__})",
            "give the result.json a `run --shard I/N --report-dir DIR` wrote",
        ) from None
    if result.shard is None:
        raise SettingsError(
            f"{path} is the result of a whole run, not of a shard",
            "merge the result.json of `run --shard I/N` runs",
        )
    return result


def _same_run(shards: list[tuple[Path, RunResult]]) -> None:
    """Refuse shards that are not the parts of one run, and an incomplete set."""
    first_path, first = shards[0]
    if first.suite_version != __version__:
        raise SettingsError(
            f"{first_path} was written by masivo-conformance {first.suite_version}, this is "
            f"{__version__}",
            "merge with the version that ran the shards",
        )
    for path, result in shards[1:]:
        for what, mine, theirs in (
            ("seed", result.seed, first.seed),
            ("profile", result.profile, first.profile),
            ("target", result.target, first.target),
            ("masivo-conformance version", result.suite_version, first.suite_version),
            ("requirements", _selection(result), _selection(first)),
            ("shard count", _part(result).count, _part(first).count),
        ):
            if mine != theirs:
                raise SettingsError(
                    f"{path} and {first_path} are not shards of one run: {what} "
                    f"{mine} against {theirs}",
                    "merge the shards of one run (same seed, profile, target, requirements "
                    "and version)",
                )
    count = _part(first).count
    seen: dict[int, Path] = {}
    for path, result in shards:
        index = _part(result).index
        if index in seen:
            raise SettingsError(
                f"shard {index}/{count} is given twice ({seen[index]} and {path})",
                "give each shard's result.json once",
            )
        seen[index] = path
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in seen]
    if missing:
        raise SettingsError(
            f"shard {', '.join(missing)} missing: merge needs every part of the run",
            "give every shard's result.json (in CI: download every matrix job's artefact)",
        )


def _part(result: RunResult) -> ShardPart:
    assert result.shard is not None  # _read refused any other
    return result.shard


def _selection(result: RunResult) -> list[str] | None:
    """The --requirement ids of the run (None: every requirement)."""
    return [r.id for r in result.requirements] if result.selected else None


def _outcomes(parts: list[ShardPart]) -> list[TestOutcome]:
    """Every shard's outcomes, in shard order. A test runs in one shard only; the run's
    traffic is judged in every shard (per process, like pytest-xdist's workers), and
    its outcomes of one name are summed into one, as one process would have judged it."""
    tests: dict[str, TestOutcome] = {}
    traffic: dict[str, list[TestOutcome]] = {}
    for part in parts:
        for outcome in part.outcomes:
            if outcome.nodeid.startswith(TRAFFIC_TEST):
                traffic.setdefault(outcome.nodeid, []).append(outcome)
            elif outcome.nodeid in tests:
                raise SettingsError(
                    f"test {outcome.nodeid} ran in two shards",
                    "merge the shards of one run, each written by `run --shard I/N`",
                )
            else:
                tests[outcome.nodeid] = outcome
    return [*tests.values(), *(TestOutcome.combined(same) for same in traffic.values())]


def _notes(parts: list[ShardPart]) -> list[str]:
    """Each note once; one that not every shard made says which shard made it."""
    counts = Counter(note for part in parts for note in dict.fromkeys(part.notes))
    notes: list[str] = []
    for part in parts:
        for note in part.notes:
            shown = (
                note if counts[note] == len(parts) else f"shard {part.index}/{part.count}: {note}"
            )
            if shown not in notes:
                notes.append(shown)
    return notes


def union(results: list[RunResult]) -> SuiteRun:
    """The shards' evidence as the one run they are parts of. Requests are summed (each
    shard authorizes once); the duration is the longest shard's (matrix jobs run side
    by side); how a run ended (stopped, refused, budget spent) is the first shard's that
    says so."""
    results = sorted(results, key=lambda r: _part(r).index)
    parts = [_part(r) for r in results]
    by_operation: Counter[str] = Counter()
    for result in results:
        by_operation.update(result.requests_by_operation)
    stopped = next((r for r in results if r.stopped), None)
    return SuiteRun(
        exit_code=0,
        outcomes=_outcomes(parts),
        request_count=sum(r.request_count for r in results),
        duration_s=max(r.duration_s for r in results),
        output="",
        notes=_notes(parts),
        stopped=stopped.stopped if stopped else "",
        refused=next((p.refused for p in parts if p.refused), ""),
        suspects=_part(stopped).suspects if stopped else [],
        budget_spent=next((p.budget_spent for p in parts if p.budget_spent), ""),
        requests_by_operation=dict(by_operation.most_common()),
        amounts_moved=any(p.amounts_moved for p in parts),
    )


def execute(args: argparse.Namespace) -> int:
    prepare_report_dir(args.report_dir)
    prepare_report_dir(args.junit.parent if args.junit else None, flag="--junit")
    baseline = load_baseline(args.baseline) if args.baseline else None
    shards = [(path, _read(path)) for path in args.results]
    _same_run(shards)
    results = [result for _, result in shards]
    first = results[0]
    facts = RunFacts(
        first.target,
        first.profile,
        first.seed,
        args.strict,
        min(r.started_at for r in results),
        _selection(first),
        first.suite_version,
    )
    run = union(results)
    junit = args.junit or (args.report_dir / "junit.xml" if args.report_dir else None)
    reports = Reports(args.report_dir, junit, write_junit=True, quiet=args.quiet)
    if not args.quiet:
        print(
            f"masivo-conformance {__version__}: merging {len(results)} shards of profile "
            f"{first.profile} against {first.target}"
        )
    return conclude(result_of(run, facts), run, reports, baseline)
