"""The CI workflow: when it runs, what each job may see, and what it leaves behind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "conformance.yml"
DEV_DAILY_LIMIT = 1000  # the lower of the two documented DEV limits


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    document = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def jobs(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    found = workflow["jobs"]
    assert isinstance(found, dict)
    return found


def text_of(node: Any) -> str:
    """A job or step as YAML text, to search for expressions wherever they sit."""
    return yaml.safe_dump(node, sort_keys=False)


def live_job(workflow: dict[Any, Any]) -> dict[str, Any]:
    with_secrets = [job for job in jobs(workflow).values() if "secrets." in text_of(job)]
    assert len(with_secrets) == 1, "exactly one job may see the DEV account's secrets"
    return with_secrets[0]


def offline_job(workflow: dict[Any, Any]) -> dict[str, Any]:
    without = [job for job in jobs(workflow).values() if "secrets." not in text_of(job)]
    assert len(without) == 1
    return without[0]


def run_lines(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflow_triggers_on_push_pr_schedule_and_dispatch(workflow: dict[Any, Any]) -> None:
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    triggers = workflow[True]
    assert {"push", "pull_request", "schedule", "workflow_dispatch"} <= set(triggers)
    crons = [entry["cron"] for entry in triggers["schedule"]]
    assert crons
    assert all(len(cron.split()) == 5 for cron in crons)


def test_workflow_token_is_read_only(workflow: dict[Any, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}


def test_live_job_uses_dev_secrets_and_allows_writes(workflow: dict[Any, Any]) -> None:
    job = live_job(workflow)
    text = text_of(job)
    assert "secrets.MASIVO_API_KEY" in text
    assert "secrets.MASIVO_BRAND_ID" in text
    assert job["env"]["MASIVO_BASE_URL"] == "https://app.masivo.ai/api/storefront/v1"
    commands = run_lines(job)
    run = next(line for line in commands.splitlines() if "masivo-conformance run" in line)
    assert run.startswith(".venv/bin/masivo-conformance run")
    for flag in ("--allow-writes", "--profile budget", "--report-dir reports"):
        assert flag in run
    assert "--junit reports/junit.xml" in run
    assert "make venv" in commands


def test_live_job_runs_only_nightly_or_on_demand(workflow: dict[Any, Any]) -> None:
    condition = live_job(workflow)["if"]
    assert "schedule" in condition
    assert "workflow_dispatch" in condition
    assert "push" not in condition
    assert "pull_request" not in condition


def test_live_job_budget_stays_well_inside_the_dev_limit(workflow: dict[Any, Any]) -> None:
    job = live_job(workflow)
    run = next(line for line in run_lines(job).splitlines() if "masivo-conformance run" in line)
    flag = re.search(r"--max-requests\s+\"?\$(\w+)\"?", run)
    assert flag, "the live run must cap its requests"
    default = re.search(r"\|\|\s*(\d+)", job["env"][flag.group(1)])
    assert default
    dispatch_default = workflow[True]["workflow_dispatch"]["inputs"]["max_requests"]["default"]
    for budget in (int(default.group(1)), int(dispatch_default)):
        # The nightly run leaves a quarter of the smallest daily limit to people.
        assert 0 < budget <= DEV_DAILY_LIMIT * 3 // 4


def test_live_job_never_overlaps_itself(workflow: dict[Any, Any]) -> None:
    concurrency = live_job(workflow)["concurrency"]
    assert concurrency["group"]
    assert concurrency["cancel-in-progress"] is False


def test_offline_job_runs_make_test_without_secrets(workflow: dict[Any, Any]) -> None:
    job = offline_job(workflow)
    assert "secrets" not in text_of(job)
    commands = run_lines(job)
    assert re.search(r"^make test\b", commands, re.MULTILINE)
    assert "--report-dir reports" in commands
    assert "push" in job["if"]
    assert "pull_request" in job["if"]


@pytest.mark.parametrize("pick", [live_job, offline_job], ids=["live", "offline"])
def test_job_uploads_reports_and_writes_the_summary_always(
    workflow: dict[Any, Any], pick: Any
) -> None:
    steps = pick(workflow)["steps"]
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert len(uploads) == 1
    assert uploads[0]["if"] == "always()"
    assert uploads[0]["with"]["path"].rstrip("/") == "reports"
    summaries = [s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert len(summaries) == 1
    assert summaries[0]["if"] == "always()"
    assert "reports/summary.md" in summaries[0]["run"]


def test_artifact_names_differ_between_jobs(workflow: dict[Any, Any]) -> None:
    names = [
        step["with"]["name"]
        for job in jobs(workflow).values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert len(names) == len(set(names)) == 2


def test_live_run_stops_sending_in_time_and_inside_the_job_limits(
    workflow: dict[Any, Any],
) -> None:
    # A stuck or hostile target must not hold the job (and the DEV account) for an hour.
    job = live_job(workflow)
    step = next(s for s in job["steps"] if "masivo-conformance run" in s.get("run", ""))
    flag = re.search(r"--max-time\s+\"?\$(\w+)\"?", step["run"])
    assert flag, "the live run must pass --max-time"
    max_time = float(job["env"][flag.group(1)])
    assert 0 < max_time <= 30 * 60
    # The step's own limit is a backstop past --max-time, short of the job's, so the
    # summary and upload steps still run after it.
    assert max_time < step["timeout-minutes"] * 60 < job["timeout-minutes"] * 60
