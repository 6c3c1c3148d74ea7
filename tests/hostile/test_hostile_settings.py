"""What a hostile target (or a careless setting) can make a run print or keep: the brand
it names, the event ids it chooses, a password in a base URL, a targets file naming
another tool's secret. Each is a whole run, in a fresh interpreter, as CI would start it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.cli_runs import CliRun, run_cli
from tests.hostile.tamperer import Exchange, Tamperer, json_patch

ESC = "\x1b"
HOSTILE_BRAND = f"brand{ESC}[2J{ESC}]0;pwned\x07\n::error::x"
PASSWORD = "pw-s3cret-9931"


def _credentials(hostile: Tamperer) -> list[str]:
    return ["--base-url", hostile.base_url, "--api-key", hostile.api_key]


def _inert(stream: str) -> None:
    """Nothing in `stream` a terminal or a GitHub runner would obey."""
    assert ESC not in stream
    commands = [line for line in stream.splitlines() if line.lstrip().startswith("::")]
    assert not commands, commands


def _one_line(run: CliRun) -> str:
    assert run.exit_code == 2, run.tail()
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_discovered_brand_is_printed_as_escaped_data(hostile: Tamperer) -> None:
    def rebrand(body: Any) -> Any:
        for reward in body.get("data") or []:
            reward["brand_id"] = HOSTILE_BRAND
        return body

    hostile.rule("list_rewards", json_patch(rebrand))

    run = run_cli(
        "run", *_credentials(hostile), "--profile", "budget", "--requirement", "GEN-1", "-q"
    )

    _inert(run.stderr)
    _inert(run.stdout)
    # Shown as a JSON string: escaped, quoted, on the line that explains the choice.
    shown = json.dumps(HOSTILE_BRAND)
    notice = next((ln for ln in run.stderr.splitlines() if "no brand id given" in ln), "")
    assert shown in notice, run.tail()
    assert "Traceback" not in run.stderr


def test_an_event_id_holding_the_key_stays_out_of_the_journal(
    hostile: Tamperer, tmp_path: Path
) -> None:
    key = hostile.api_key

    def echo_the_key(body: Any) -> Any:
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            body["data"]["id"] = f"evt-{key}"
        return body

    hostile.rule(
        lambda ex: ex.operation == "emit_event" and ex.status < 300, json_patch(echo_the_key)
    )
    state = tmp_path / "state"
    journal_dir = state / "masivo-conformance" / "journal"

    run = run_cli(
        "run",
        *_credentials(hostile),
        "--brand-id",
        hostile.brand_id,
        "--profile",
        "budget",
        "--requirement",
        "EMIT-1",
        "-q",
        env={"XDG_STATE_HOME": str(state), "MASIVO_JOURNAL_DIR": str(journal_dir)},
        timeout=120,
    )

    assert hostile.hits, "no emitted event was answered with the key: nothing was tested"
    files = [p for p in state.rglob("*") if p.is_file()]
    assert files, f"the run wrote no journal under {state}: {run.tail()}"
    for path in files:
        assert key not in path.read_text(errors="replace"), path
    assert any('"skipped"' in p.read_text() for p in files), "the id was counted as skipped"
    assert key not in run.stdout + run.stderr


def test_a_password_in_the_base_url_is_refused_without_being_printed(tmp_path: Path) -> None:
    url = f"http://ana:{PASSWORD}@127.0.0.1:9/v1"
    by_flag = run_cli("run", "--base-url", url, "--api-key", "k" * 12, "--brand-id", "b")
    by_env = run_cli(
        "cleanup", env={"MASIVO_BASE_URL": url, "MASIVO_API_KEY": "k" * 12}, timeout=60
    )
    for run in (by_flag, by_env):
        line = _one_line(run)
        assert "the base URL carries a user name and password" in line
        assert PASSWORD not in run.stdout + run.stderr


def test_a_targets_file_cannot_send_another_tools_secret(tmp_path: Path) -> None:
    secret = "ghp_not_for_masivo_1234567890"
    targets = tmp_path / "masivo-targets.yaml"
    targets.write_text(
        "targets:\n  dev:\n    base_url: http://127.0.0.1:9/v1\n    api_key_env: GITHUB_TOKEN\n",
        encoding="utf-8",
    )
    run = run_cli(
        "run",
        "--targets-file",
        str(targets),
        "--target",
        "dev",
        env={"GITHUB_TOKEN": secret},
        timeout=60,
    )
    line = _one_line(run)
    assert "api_key_env 'GITHUB_TOKEN' is not a MASIVO_* variable" in line
    assert secret not in run.stdout + run.stderr


def test_a_file_key_is_not_sent_to_an_overriding_base_url(
    hostile: Tamperer, tmp_path: Path
) -> None:
    # The file declares its key for a closed port; the base URL given on the command line
    # is a live server that would record the x-api-key it receives.
    targets = tmp_path / "masivo-targets.yaml"
    targets.write_text(
        "targets:\n  dev:\n    base_url: http://127.0.0.1:9/v1\n    api_key_env: MASIVO_DEV_KEY\n",
        encoding="utf-8",
    )
    seen: list[str] = []

    def note(exchange: Exchange) -> bool:
        seen.append(exchange.path)
        return False  # only watching: every answer passes through as it is

    hostile.rule(note, json_patch(lambda body: body))
    run = run_cli(
        "run",
        "--targets-file",
        str(targets),
        "--target",
        "dev",
        "--base-url",
        hostile.base_url,
        env={"MASIVO_DEV_KEY": "mk_dev_key_for_port_9"},
        timeout=60,
    )
    line = _one_line(run)
    assert "declared for its base_url, not for the base URL given by --base-url" in line
    assert not seen, "no request may reach the overriding base URL"
