"""Bad input ends in one line that says what is wrong and what to do, exit 2, no traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance import cli, contract
from tests.suite.cli_runs import CliRun, run_cli


def _one_clear_line(run: CliRun, *fragments: str) -> None:
    assert run.exit_code == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("masivo-conformance: error: ")
    assert ":" in lines[0].removeprefix("masivo-conformance: error: ")  # what: what to do
    for fragment in fragments:
        assert fragment in lines[0]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (for timeouts)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield int(listener.getsockname()[1])
    listener.close()


@pytest.fixture
def plain_http_port(start_server: Any) -> int:
    server = start_server()
    return int(server.base_url.split(":")[2].split("/")[0])


def test_refused_connection(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/storefront/v1"
    run = run_cli("run", "--base-url", url, "--api-key", "k", "--brand-id", "b")
    _one_clear_line(run, "connection refused", "embedded server")


def test_dns_failure() -> None:
    run = run_cli(
        "run",
        "--base-url",
        "http://no-such-host.invalid/api/storefront/v1",
        "--api-key",
        "k",
        "--brand-id",
        "b",
    )
    _one_clear_line(run, "cannot resolve", "MASIVO_BASE_URL")


def test_tls_failure(plain_http_port: int) -> None:
    run = run_cli(
        "run",
        "--base-url",
        f"https://127.0.0.1:{plain_http_port}/api/storefront/v1",
        "--api-key",
        "k",
        "--brand-id",
        "b",
    )
    _one_clear_line(run, "TLS")


def test_timeout(silent_server: int) -> None:
    run = run_cli(
        "run",
        "--base-url",
        f"http://127.0.0.1:{silent_server}/api/storefront/v1",
        "--api-key",
        "k",
        "--brand-id",
        "b",
        "--timeout",
        "0.5",
    )
    _one_clear_line(run, "did not answer in time")


def test_authorize_refusing_the_key(start_server: Any) -> None:
    server = start_server()
    run = run_cli(
        "run",
        "--base-url",
        server.base_url,
        "--api-key",
        "wrong-key",
        "--brand-id",
        server.brand_id,
    )
    _one_clear_line(run, "authorize refused the API key", "MASIVO_API_KEY")


def test_unknown_brand(start_server: Any) -> None:
    server = start_server()
    run = run_cli(
        "run",
        "--base-url",
        server.base_url,
        "--api-key",
        server.api_key,
        "--brand-id",
        "no-such-brand",
    )
    _one_clear_line(run, "no-such-brand", "MASIVO_BRAND_ID")


def test_missing_credentials_for_a_remote_target() -> None:
    run = run_cli("run", "--base-url", "https://app.masivo.ai/api/storefront/v1")
    _one_clear_line(run, "no credentials", "MASIVO_API_KEY")


@pytest.mark.parametrize("content", ["targets: [unclosed", "just a string", "targets:\n  dev: 3\n"])
def test_malformed_targets_file(tmp_path: Path, content: str) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(content)
    run = run_cli("run", "--targets-file", str(targets), "--target", "dev")
    _one_clear_line(run, str(targets))


def test_missing_targets_file(tmp_path: Path) -> None:
    run = run_cli("run", "--targets-file", str(tmp_path / "nope.yaml"), "--target", "dev")
    _one_clear_line(run, "not found")


def test_unknown_requirement_id() -> None:
    run = run_cli("run", "--requirement", "REV-99")
    _one_clear_line(run, "REV-99")


def test_missing_schema_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "schemas"
    broken.mkdir()
    for path in contract.schemas_dir().iterdir():
        if path.name != "event.schema.json":
            (broken / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(contract, "_PACKAGED", broken)
    contract.registry.cache_clear()
    contract.validator.cache_clear()
    try:
        code = cli.main(["requirements"])
    finally:
        contract.registry.cache_clear()
        contract.validator.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1
    assert "event.schema.json" in err[0]
