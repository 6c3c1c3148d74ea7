"""What `run` and `merge` make of what a suite run found: its evidence folded into one
`RunResult`, the baseline applied, the notes of how the run ended, the matrix, the
reports and the exit code. `merge` hands over its shards' evidence as one `SuiteRun`,
so the two commands conclude the same way from the same data (docs/decisions.md,
"Shards and merge"); a shard (`run --shard`) only writes its part for `merge`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from masivo_conformance import __version__
from masivo_conformance.commands._options import print_written
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import EXIT_CANNOT_RUN, EXIT_OK, TargetError
from masivo_conformance.reporting import junit, report
from masivo_conformance.reporting.baseline import Baseline
from masivo_conformance.reporting.results import RunResult, ShardPart, errors_of, fold
from masivo_conformance.suite.runner import SuiteRun
from masivo_conformance.suite.saved_traffic import TRAFFIC_TEST
from masivo_conformance.suite.sharding import Shard

__all__ = ["Reports", "RunFacts", "conclude", "conclude_shard", "result_of"]


@dataclass(frozen=True)
class RunFacts:
    """What a command knows of a run beside its evidence."""

    target: str
    profile: str
    seed: int | None
    strict: bool
    started_at: str
    selected: list[str] | None = None  # --requirement ids (None: every requirement)
    suite_version: str = __version__


@dataclass(frozen=True)
class Reports:
    """Where a command writes, and how much it says."""

    report_dir: Path | None = None
    junit: Path | None = None  # junit.xml: written by pytest (run) or by `conclude` (merge)
    write_junit: bool = False  # True: `conclude` renders junit.xml itself, from the verdicts
    quiet: bool = False


def result_of(run: SuiteRun, facts: RunFacts, shard: Shard | None = None) -> RunResult:
    """The run's evidence folded into one row per requirement; a shard's result also
    carries the evidence itself, for `merge`."""
    budget_note = (
        f"not judged before the run's budget ran out ({run.budget_spent})"
        if run.budget_spent
        else ""
    )
    part = None
    if shard is not None:
        part = ShardPart(
            shard.index,
            shard.count,
            run.outcomes,
            list(run.notes),
            run.budget_spent,
            run.refused,
            list(run.suspects),
            run.amounts_moved,
        )
    return RunResult(
        target=facts.target,
        profile=facts.profile,
        seed=facts.seed,
        strict=facts.strict,
        duration_s=round(run.duration_s, 2),
        request_count=run.request_count,
        requests_by_operation=run.requests_by_operation,
        requirements=fold(
            catalogue(),
            run.outcomes,
            facts.selected,
            budget_note=budget_note,
            amounts_moved=run.amounts_moved,
        ),
        errors=errors_of(run.outcomes),
        stopped=run.stopped,
        selected=facts.selected is not None,
        suite_version=facts.suite_version,
        started_at=facts.started_at,
        notes=list(run.notes),
        shard=part,
    )


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


def _write_reports(result: RunResult, reports: Reports, *, quiet: bool) -> None:
    """result.json, the reports and junit.xml, each named as written; the reproducer
    scripts are counted, not listed."""
    written = []
    if reports.report_dir is not None:
        result.write(reports.report_dir / "result.json")
        written += [
            reports.report_dir / "result.json",
            *report.write_reports(result, reports.report_dir),
        ]
    if reports.junit is not None and reports.write_junit:
        reports.junit.parent.mkdir(parents=True, exist_ok=True)
        text = junit.render_junit(result, "masivo-conformance merge")
        reports.junit.write_text(text, encoding="utf-8")
    if reports.junit is not None and reports.junit.is_file():
        written.append(reports.junit)
    print_written(written, quiet=quiet)


def _refusal(refused: str) -> TargetError:
    return TargetError(
        refused,
        "every scenario needs this step: check why the target refuses it (run with -v "
        "for the request as a curl line), then run again",
    )


def conclude(
    result: RunResult, run: SuiteRun, reports: Reports, baseline: Baseline | None = None
) -> int:
    """Apply the baseline, say how the run ended, print the matrix, write the reports;
    the exit code the verdicts mean."""
    if baseline is not None:
        today = datetime.now().astimezone().date()
        result.requirements, baseline_notes = baseline.apply(result.requirements, today)
        result.notes.extend(baseline_notes)
    result.notes.extend(_ending_notes(result, run))
    if run.refused:
        # Like a refused key at the preflight: one line, exit 2; the reports still say
        # what little was judged before the step was refused.
        result.notes.append(f"the run stopped: {run.refused}")
        _write_reports(result, reports, quiet=True)
        raise _refusal(run.refused)
    print(report.render_matrix(result, reports.report_dir))
    _write_reports(result, reports, quiet=reports.quiet)
    return result.exit_code()


def conclude_shard(
    result: RunResult, run: SuiteRun, shard: Shard, report_dir: Path, reports: Reports
) -> int:
    """Write the shard's result.json (its evidence, for `merge`) and say what it holds.
    The verdict is merge's: a shard exits 0 once its part is written, so that a failure
    in one CI matrix job does not cancel the others (fail-fast) and leave merge a part
    short; 2 when its part could not be had (the target stopped answering, a step every
    scenario needs was refused)."""
    result.notes.extend(_ending_notes(result, run))
    path = report_dir / "result.json"
    result.write(path)
    if run.refused:
        raise _refusal(run.refused)
    tests = [o for o in run.outcomes if not o.nodeid.startswith(TRAFFIC_TEST)]
    judged = [r for r in result.requirements if r.status in ("pass", "fail")]
    failed = sum(1 for r in judged if r.status == "fail")
    if not reports.quiet:
        print(
            f"shard {shard}: {len(tests)} tests, {result.request_count} requests; "
            f"judged {len(judged)} requirements here ({failed} failed); the verdict is "
            "merge's: masivo-conformance merge RESULT.json... (every shard's)"
        )
        if result.stopped:
            print(f"the shard stopped: {result.stopped}")
    junit = [reports.junit] if reports.junit is not None and reports.junit.is_file() else []
    print_written([path, *junit], quiet=reports.quiet)
    return EXIT_CANNOT_RUN if result.stopped else EXIT_OK
