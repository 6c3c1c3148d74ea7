"""Answers a run cannot read whole: a gzip bomb, a body without end, a drip, JSON nested
100,000 deep, a Retry-After of a billion seconds. Each is a whole run, in a fresh
interpreter, against the reference server behind a tamperer: it ends in bounded time
and memory, with the documented exit code, its reports and no traceback
(docs/decisions.md, "Bounded reads: what the suite reads of an answer").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.cli_runs import CliRun, clean_env
from tests.hostile.tamperer import (
    Action,
    Tamperer,
    add_headers,
    deep_json,
    drip,
    endless_chunked,
    gzip_bomb,
    rate_limited,
)

# What a run of the suite takes against the reference server is about 115 MB; an answer
# read whole would take 10 GiB (the bomb) or all there is (the endless body).
MAX_RSS_MB = 500


@dataclass(frozen=True)
class Measured:
    run: CliRun
    seconds: float
    peak_rss_mb: int


def run_against(
    hostile: Tamperer, *args: str, report_dir: Path | None = None, timeout: float = 120
) -> Measured:
    """`masivo-conformance run` against the tamperer in a new interpreter, as CI would
    start it: how it ended, how long it took, and the most memory it held (wait4)."""
    target = ["--base-url", hostile.base_url, "--api-key", hostile.api_key]
    target += ["--brand-id", hostile.brand_id]
    reports = [] if report_dir is None else ["--report-dir", str(report_dir)]
    argv = [sys.executable, "-m", "masivo_conformance", "run", *target, *args, *reports]
    started = time.monotonic()
    with (
        open(os.devnull, "rb") as stdin,
        tempfile.TemporaryFile("w+", encoding="utf-8") as stdout,
        tempfile.TemporaryFile("w+", encoding="utf-8") as stderr,
    ):
        child = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, env=clean_env())
        watchdog = threading.Timer(timeout, child.kill)  # a hang fails, it does not block
        watchdog.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            watchdog.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        seconds = time.monotonic() - started
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read(), stderr.read()
    result_file = None if report_dir is None else report_dir / "result.json"
    result = json.loads(result_file.read_text()) if result_file and result_file.exists() else None
    run = CliRun(child.returncode, out, err, result)
    return Measured(run, seconds, usage.ru_maxrss // 1024)  # ru_maxrss: KiB on Linux


def _no_traceback(run: CliRun) -> None:
    assert "Traceback" not in run.stdout + run.stderr, run.tail()


def _findings(run: CliRun, requirement: str) -> list[str]:
    rows = (run.result or {}).get("requirements", [])
    row = next(r for r in rows if r["id"] == requirement)
    return [f["message"] for f in row["findings"]]


def test_bombs_and_endless_answers_mid_run_fail_gen3_in_bounded_memory(
    hostile: Tamperer, tmp_path: Path
) -> None:
    """Both HTTP stacks: the storefront's calls (httpx) and the links machine's
    (schemathesis's requests, through fuzzing.call) meet every emit and preview."""
    hostile.rule("emit_event", gzip_bomb())  # 10 MB that inflate to 10 GiB
    hostile.rule("preview_order", endless_chunked())

    done = run_against(hostile, "--profile", "quick", "--requirement", "GEN-3", report_dir=tmp_path)

    run = done.run
    assert run.exit_code == 1, run.tail()
    assert run.failing() == ["GEN-3"]
    assert any(
        "no usable answer: answer larger than 8 MiB after decompression" in message
        for message in _findings(run, "GEN-3")
    ), run.tail()
    assert {"emit_event", "preview_order"} <= {operation for _, _, operation in hostile.hits}
    assert done.peak_rss_mb < MAX_RSS_MB, f"{done.peak_rss_mb} MB"
    assert done.seconds < 60
    assert (tmp_path / "report.html").exists()
    _no_traceback(run)


def test_a_drip_mid_run_is_cut_at_the_timeout_and_fails_gen3(
    hostile: Tamperer, tmp_path: Path
) -> None:
    hostile.rule("emit_event", drip(interval=0.5), times=1)  # a byte every 0.5 s

    done = run_against(
        hostile,
        "--profile",
        "budget",
        "--requirement",
        "GEN-3",
        "--timeout",
        "1",
        "--max-time",
        "20",
        report_dir=tmp_path,
    )

    run = done.run
    assert run.exit_code == 1, run.tail()
    assert run.failing() == ["GEN-3"]
    assert any("answer not complete within 1 s" in m for m in _findings(run, "GEN-3"))
    assert done.seconds < 15
    _no_traceback(run)


def test_a_drip_ends_the_run_at_its_max_time_with_its_reports(
    hostile: Tamperer, tmp_path: Path
) -> None:
    """Every emit drips (its whole answer would take minutes); --timeout 30 alone would
    let each take 30 s. The run still ends at --max-time, inconclusive."""
    hostile.rule("emit_event", drip(interval=0.5))

    done = run_against(
        hostile,
        "--profile",
        "budget",
        "--requirement",
        "GEN-3",
        "--requirement",
        "EMIT-1",
        "--timeout",
        "30",
        "--max-time",
        "3",
        report_dir=tmp_path,
    )

    run = done.run
    assert run.exit_code == 3, run.tail()
    assert run.result is not None
    assert any("--max-time of 3 s reached" in note for note in run.result["notes"])
    assert run.status("EMIT-1") == "not checked"
    assert done.seconds < 12, "past --max-time by more than the start of a run"
    _no_traceback(run)


@pytest.mark.parametrize(
    ("action", "timeout", "said"),
    [
        (deep_json(levels=100_000), "10", "JSON nested deeper than 64 levels"),
        (gzip_bomb(), "10", "answer larger than 8 MiB after decompression"),
        (endless_chunked(), "10", "answer larger than 8 MiB after decompression"),
        (drip(interval=0.3), "1", "answer not complete within 1 s"),
    ],
    ids=["deep", "gzip-bomb", "endless", "drip"],
)
def test_authorize_without_a_usable_answer_is_one_line_and_exit_2(
    hostile: Tamperer, action: Action, timeout: str, said: str
) -> None:
    hostile.rule("authorize", action)

    done = run_against(hostile, "--profile", "budget", "--timeout", timeout)

    run = done.run
    assert run.exit_code == 2, run.tail()
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("masivo-conformance: error: authorize at ")
    assert said in lines[0]
    assert done.seconds < 15
    _no_traceback(run)


def test_a_retry_after_of_a_billion_seconds_ends_the_run_inconclusive(
    hostile: Tamperer, tmp_path: Path
) -> None:
    hostile.rule("emit_event", rate_limited(retry_after="1000000000"))

    done = run_against(
        hostile,
        "--profile",
        "budget",
        "--requirement",
        "GEN-3",
        "--requirement",
        "EMIT-1",
        report_dir=tmp_path,
    )

    run = done.run
    assert run.exit_code == 3, run.tail()
    assert run.result is not None
    assert any("the target asks to wait 1000000000 s" in n for n in run.result["notes"])
    assert run.status("EMIT-1") == "not checked"
    assert done.seconds < 15
    _no_traceback(run)


def test_unusable_rate_limit_headers_are_read_without_a_traceback(
    hostile: Tamperer, tmp_path: Path
) -> None:
    """Retry-After nan, inf, a date in the past: waited as 1 s, 1 s and 0 s, then retried;
    an X-RateLimit-Remaining of "²" (a digit to str.isdigit, not to int) is ignored."""
    for retry_after in ("nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT"):
        hostile.rule("emit_event", rate_limited(retry_after=retry_after), times=1)
    hostile.rule(lambda exchange: True, add_headers({"X-RateLimit-Remaining": "²"}))

    # One scenario at a time: overlapping, the two waits of 1 s could run side by side.
    done = run_against(
        hostile,
        *("--profile", "budget", "--requirement", "GEN-3", "--concurrency", "1"),
        report_dir=tmp_path,
    )

    run = done.run
    assert run.exit_code == 0, run.tail()
    assert run.status("GEN-3") == "pass"
    assert 2 <= done.seconds < 15  # two waits of 1 s (nan, inf), none for the past date
    _no_traceback(run)
