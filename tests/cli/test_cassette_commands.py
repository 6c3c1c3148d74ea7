"""record / replay / drift as a user runs them: secrets scrubbed, corrupt cassettes
refused, drift quiet against the same server and loud against a changed one."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.errors import CassetteError
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.suite.cassette_runs import META_FILE, check_record_folder
from tests.cli.cli_runs import WarmCli, run_cli, target_args

# The committed recording, named by its place rather than by the commands' default
# (./cassettes of whatever folder the tests run from).
COMMITTED = Path(__file__).resolve().parents[2] / "cassettes"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
CANARY_KEY = "canary-key-7f3a9c1e5b"
# The reference server applies every effect before it answers: drift need not wait 1 s
# for transactions that are already there.
DRIFT = ("drift", "--settle-time", "0.2", "--cassettes", str(COMMITTED), "-q")


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_recording_keeps_no_secret(start_server: Any, tmp_path: Path) -> None:
    server = start_server(ServerConfig(api_key=CANARY_KEY))
    cassettes, reports = tmp_path / "cassettes", tmp_path / "reports"
    done = run_cli(
        "record", *target_args(server), "--settle-time", "0.2", "--cassettes", str(cassettes)
    )
    assert done.exit_code == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # Printed like `run`: a first line of ours, pytest's progress, no pytest header.
    assert done.stdout.startswith("masivo-conformance ")
    assert "test session starts" not in done.stdout
    replayed = run_cli("replay", "--cassettes", str(cassettes), report_dir=reports)
    assert replayed.exit_code == 0, replayed.stdout[-2000:]
    written = _all_text(cassettes) + _all_text(reports)
    logs = done.stdout + done.stderr + replayed.stdout + replayed.stderr
    for text in (written, logs):
        assert CANARY_KEY not in text
        assert not JWT.search(text)
        assert not re.search(r"Bearer [A-Za-z0-9._-]{8,}", text)
    assert "<redacted>" in _all_text(cassettes)  # the secrets were there and were scrubbed


@pytest.mark.parametrize("damage", ["truncated", "not yaml"])
def test_replay_refuses_a_corrupt_cassette_with_exit_2(tmp_path: Path, damage: str) -> None:
    cassettes = tmp_path / "cassettes"
    shutil.copytree(COMMITTED, cassettes)
    victim = sorted(cassettes.rglob("*.yaml"))[3]
    text = victim.read_text()
    victim.write_text(text[: len(text) // 2] if damage == "truncated" else "interactions: [\n")
    run = run_cli("replay", "--cassettes", str(cassettes), report_dir=tmp_path / "r")
    assert run.exit_code == 2
    assert str(victim) in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_record_may_replace_a_recording_even_an_interrupted_one(tmp_path: Path) -> None:
    complete = tmp_path / "complete"
    shutil.copytree(COMMITTED, complete)
    interrupted = tmp_path / "interrupted"  # cassettes written, recording.json not yet
    shutil.copytree(COMMITTED, interrupted)
    (interrupted / META_FILE).unlink()
    for folder in (complete, interrupted, tmp_path / "new"):
        check_record_folder(folder)  # raises CassetteError when recording would destroy
    (complete / "notes.txt").write_text("mine\n")
    with pytest.raises(CassetteError, match="does not look like a cassette folder"):
        check_record_folder(complete)


@pytest.mark.slow
def test_drift_against_the_same_clean_server_finds_nothing_breaking(
    start_server: Any, warm_cli: WarmCli, tmp_path: Path
) -> None:
    server = start_server()
    run = warm_cli(*DRIFT, *target_args(server), report_dir=tmp_path)
    assert run.exit_code == 0, run.stdout[-3000:]
    report = json.loads((tmp_path / "drift.json").read_text())
    assert report["summary"]["breaking"] == 0, report["breaking"][:5]


# fault or variant of the reference server -> a kind of breaking drift it must show
INJECTED = {
    "emit_bare_event": "member-removed",
    "amount_as_string": "type-changed",
    "lowercase_status": "enum-value-removed",
    "fulfil_unknown_event_ok": "status-class-changed",
    "text_plain_success": "content-type-changed",
    "transaction_missing_type": "member-removed",
    "wallet_totals_object": "type-changed",
    "epoch_timestamps": "type-changed",
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(INJECTED))
def test_drift_classifies_an_injected_change_as_breaking(
    start_server: Any, warm_cli: WarmCli, tmp_path: Path, fault: str
) -> None:
    server = start_server(ServerConfig(faults=frozenset({fault})))
    run = warm_cli(*DRIFT, *target_args(server), report_dir=tmp_path)
    assert run.exit_code == 1, run.stdout[-3000:]
    report = json.loads((tmp_path / "drift.json").read_text())
    kinds = {d["kind"] for d in report["breaking"]}
    assert INJECTED[fault] in kinds, kinds


@pytest.mark.slow
def test_drift_classifies_an_added_member_as_additive(
    start_server: Any, warm_cli: WarmCli, tmp_path: Path
) -> None:
    server = start_server(ServerConfig(extra_members=True))
    run = warm_cli(*DRIFT, *target_args(server), report_dir=tmp_path)
    assert run.exit_code == 0, run.stdout[-3000:]
    report = json.loads((tmp_path / "drift.json").read_text())
    assert report["summary"]["breaking"] == 0
    assert any(d["kind"] == "member-added" for d in report["additive"]), report["additive"][:3]
