"""Bad input ends in one line that says what is wrong and what to do, exit 2, no traceback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from masivo_conformance import cli, contract
from masivo_conformance.contract import schemas
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.seed import DEFAULT_SEED
from masivo_conformance.suite.target import Target, preflight
from tests.cli.cli_runs import CliRun, clean_env, run_cli

COMMITTED_CASSETTES = Path(__file__).resolve().parents[2] / "cassettes"


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
    monkeypatch.setattr(schemas, "_PACKAGED", broken)
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


# -- settings refused up front ----------------------------------------------------------------


@pytest.mark.parametrize("timeout", ["-1", "0"])
def test_timeout_must_be_more_than_zero(timeout: str) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/storefront/v1"
    run = run_cli("run", "--base-url", url, "--api-key", "k", "--timeout", timeout)
    _one_clear_line(run, "--timeout must be more than 0", "--timeout 10")


def test_targets_file_value_of_the_wrong_type(tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  dev:\n    base_url: 8125\n")
    run = run_cli("run", "--targets-file", str(targets), "--target", "dev")
    _one_clear_line(run, str(targets), "'dev'", "base_url must be a string")


def test_targets_file_without_a_target(tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  dev: {}\n  prod: {}\n")
    run = run_cli("run", "--targets-file", str(targets))
    _one_clear_line(run, "--targets-file needs --target NAME", str(targets), "dev, prod")


@pytest.mark.parametrize("workers", ["-1", "two"])
def test_worker_count_must_be_auto_or_a_whole_number(workers: str) -> None:
    run = run_cli("run", "-n", workers)
    _one_clear_line(run, "-n/--workers", "'auto' or a number >= 0", "masivo-conformance run --help")


def test_an_unknown_flag_is_one_line() -> None:
    _one_clear_line(run_cli("run", "--no-such-flag"), "unrecognized arguments: --no-such-flag")


@pytest.mark.parametrize("command", ["run", "replay"])
def test_report_dir_that_is_a_file(tmp_path: Path, command: str) -> None:
    taken = tmp_path / "report"
    taken.write_text("not a folder")
    run = run_cli(command, "--report-dir", str(taken))
    _one_clear_line(run, str(taken), "is a file")


def test_report_dir_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    inside_a_file = tmp_path / "file" / "report"
    run = run_cli("run", "--report-dir", str(inside_a_file))
    _one_clear_line(run, f"cannot create the --report-dir folder {inside_a_file}")


# -- the reference server's database ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing folder", "a folder", "not SQLite"])
def test_serve_with_a_database_that_cannot_be_opened(tmp_path: Path, kind: str) -> None:
    db = {
        "missing folder": tmp_path / "no-such-dir" / "x.db",
        "a folder": tmp_path,
        "not SQLite": tmp_path / "notes.txt",
    }[kind]
    if kind == "not SQLite":
        db.write_text("hello, not a database\n" * 10)
    run = run_cli("serve", "--port", "0", "--db", str(db), timeout=60)
    _one_clear_line(run, f"the database file {db}", "writable")


# -- a base URL that is not the storefront API -----------------------------------------------


@pytest.fixture
def html_site(tmp_path: Path) -> Iterator[str]:
    """A web server that answers every unknown path with an HTML 404."""

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_base_url_answering_an_html_404(html_site: str) -> None:
    run = run_cli("run", "--base-url", html_site + "/api", "--api-key", "k", "--brand-id", "b")
    _one_clear_line(
        run,
        f"authorize at {html_site}/api/auth/authorize answered 404 (text/html)",
        "is the base URL right?",
        "/api/storefront/v1",
    )


def test_wrong_path_on_the_reference_server_is_not_a_refused_key(start_server: Any) -> None:
    server = start_server()
    wrong = server.base_url.replace("/v1", "/v2")
    run = run_cli("run", "--base-url", wrong, "--api-key", server.api_key, "--brand-id", "b")
    _one_clear_line(run, "answered 404", "is the base URL right?")
    assert "refused" not in run.stderr


# -- no brand id ------------------------------------------------------------------------------


def test_no_brand_id_takes_the_only_brand_the_rewards_name(
    start_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_server()
    checked = preflight(Target(server.base_url, "", api_key=server.api_key))
    assert checked.brand_id == server.brand_id
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert server.brand_id in err[0]
    assert "MASIVO_BRAND_ID" in err[0]


def test_no_brand_id_and_no_brand_among_the_rewards(start_server: Any, tmp_path: Path) -> None:
    seed = yaml.safe_load(DEFAULT_SEED.read_text(encoding="utf-8"))
    for reward in seed["rewards"]:
        reward["global"] = True
    seed_file = tmp_path / "seed.yaml"
    seed_file.write_text(yaml.safe_dump(seed), encoding="utf-8")
    server = start_server(ServerConfig(seed_path=seed_file))
    run = run_cli("run", "--base-url", server.base_url, "--api-key", server.api_key)
    _one_clear_line(run, "no brand id", "set MASIVO_BRAND_ID or --brand-id", "0 brands")


# -- replay -----------------------------------------------------------------------------------


def test_replay_without_the_cassette_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-cassettes"
    run = run_cli("replay", "--cassettes", str(missing))
    _one_clear_line(run, f"cassette folder {missing} does not exist", "--cassettes")


def test_replay_with_an_empty_cassette_folder(tmp_path: Path) -> None:
    run = run_cli("replay", "--cassettes", str(tmp_path))
    _one_clear_line(run, str(tmp_path), "masivo-conformance record")


def test_replay_with_a_scenario_cassette_missing(tmp_path: Path) -> None:
    folder = tmp_path / "cassettes"
    shutil.copytree(COMMITTED_CASSETTES, folder)
    gone = folder / "test_scenarios" / "test_previews_change_nothing.yaml"
    gone.unlink()
    run = run_cli("replay", "--cassettes", str(folder), "-q")
    _one_clear_line(run, f"no cassette {gone}", "re-record")


# -- record -----------------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["notes.txt", "sub/report.html"])
def test_record_refuses_a_folder_that_is_not_cassettes(tmp_path: Path, content: str) -> None:
    """Recording replaces the whole folder: one that holds anything else is left alone."""
    folder = tmp_path / "mine"
    (folder / content).parent.mkdir(parents=True)
    (folder / content).write_text("keep me\n")
    (folder / "a.yaml").write_text("interactions: []\n")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    run = run_cli("record", "--cassettes", str(folder))
    _one_clear_line(run, f"{folder} does not look like a cassette folder", "--cassettes")
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before


def test_record_refuses_a_file_as_its_folder(tmp_path: Path) -> None:
    target = tmp_path / "cassettes"
    target.write_text("not a folder\n")
    run = run_cli("record", "--cassettes", str(target))
    _one_clear_line(run, f"cassette folder {target} is a file", "--cassettes")
    assert target.read_text() == "not a folder\n"


def test_output_piped_into_a_reader_that_stops_early() -> None:
    """`masivo-conformance run | head -1`: the reader goes away after the first line; the
    command says so in one line on stderr and exits 2, with no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "masivo_conformance", "run", "--profile", "budget"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # as `head -1` does: every later write meets a closed pipe
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert first.startswith(b"masivo-conformance ")
    _one_clear_line(CliRun(process.returncode, "", stderr, None), "output pipe closed")
