"""No secret reaches any artefact of a run: stdout and stderr (verbose), junit.xml,
result.json, report.html, summary.md and every other file in the report folder. The
target runs with the auth faults on, so the suite's failure messages quote answers that
hold tokens, and its reproducers carry the tokens it forged.

A JWT found anywhere must be one the suite forged (shown as sent, so the reproducer
repeats the bug) and never one the target issued: the target's own signing secret
tells them apart, independently of how the suite recognises its forgeries.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from masivo_conformance.server.faults import FAULTS
from tests.cli.cli_runs import CliRun, run_cli, target_args

CANARY_KEY = "canary-key-5d1e9b7c3a"
# Whole tokens, and tokens cut after their payload (what a reproducer keeps of one).
JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?")
AUTH_REQUIREMENTS = ("AUTH-1", "AUTH-2", "AUTH-3")
COMMON = ("unverified_token_signature", "long_lived_token")
# Two servers, as the two AUTH-2 faults exclude each other (any key gets a token; a
# wrong key gets a 402): a whole run on two xdist workers (whose controller writes
# junit.xml and result.json without knowing the workers' tokens), and the AUTH
# requirements alone in one process.
SCENARIOS = {
    "whole-run-on-two-workers": (("authorize_accepts_any_key", *COMMON), ("-n", "2")),
    "auth-requirements": (
        ("authorize_wrong_key_402", *COMMON),
        tuple(arg for r in AUTH_REQUIREMENTS for arg in ("--requirement", r)),
    ),
}


def test_the_scenarios_switch_on_every_auth_fault() -> None:
    auth_faults = {f.name for f in FAULTS.values() if f.requirement in AUTH_REQUIREMENTS}
    assert {name for faults, _ in SCENARIOS.values() for name in faults} == auth_faults


WORKER_TEST = """
import logging

import pytest

from masivo_conformance import scrub
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.suite.forged_tokens import forge_jwt

SECRET = "known-to-the-worker-only-7f3a"


@pytest.mark.requirement("REV-1")
def test_quotes_a_secret(masivo_evidence):
    scrub.register_secret(SECRET)  # as a token issued to this worker is
    forged = forge_jwt(None, exp=2_000_000_000)
    print("stdout", SECRET, forged)
    logging.getLogger("masivo_conformance.example").warning("log %s", SECRET)
    curl = f"curl -H 'Authorization: Bearer {forged}'"
    masivo_evidence.expect(Verdict.of("REV-1", False, f"answered {SECRET}", curl))
    assert SECRET == forged
"""


def test_a_workers_secrets_are_gone_before_the_controller_writes(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """On xdist the controller writes junit.xml (captured output included), the terminal
    (-rA) and the outcomes, and never learns what a worker registered: the worker's
    report arrives redacted, the forged token in it as sent."""
    pytester.makepyfile(WORKER_TEST)
    junit, outcomes = tmp_path / "junit.xml", tmp_path / "outcomes.json"
    result = pytester.runpytest(
        *("-p", "masivo_conformance.suite.session", "-n", "1", "-rA"),
        *("--junitxml", str(junit), "-o", "junit_logging=all"),
        *("--masivo-results", str(outcomes)),
    )
    result.assert_outcomes(failed=1)
    texts = {
        "terminal": result.stdout.str() + result.stderr.str(),
        "junit": junit.read_text(),
        "outcomes": outcomes.read_text(),
    }
    for name, text in texts.items():
        assert "known-to-the-worker-only-7f3a" not in text, name
        assert "<redacted>" in text or "&lt;redacted&gt;" in text, name
    forged = JWT_SHAPED.findall(texts["outcomes"])
    assert forged, "the forged token in the reproducer was redacted too"
    assert all(_header(token).get("masivo-conformance") == "forged" for token in forged)
    assert "Captured stdout call" in texts["terminal"]  # -rA printed the sections
    assert "<system-out>" in texts["junit"]


def _signing_secret(server: EmbeddedServer) -> str:
    store = server._store  # the reference server's own key: the oracle of "issued"
    assert store is not None
    return store.secret()


def _header(token: str) -> dict[str, Any]:
    encoded = token.split(".", 1)[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded + "=" * 4))
    return decoded


def _issued_by(token: str, secret: str) -> bool:
    """Whether the target signed `token` (its claims under its own signature)."""
    try:
        jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})
    except jwt.InvalidSignatureError:
        return False
    except jwt.PyJWTError:
        return False  # cut short or unsigned: no signature of the target's in it
    return True


def _artefacts(run: CliRun, report_dir: Path) -> dict[str, str]:
    texts = {"stdout": run.stdout, "stderr": run.stderr}
    for path in sorted(report_dir.rglob("*")):
        if path.is_file():
            texts[str(path.relative_to(report_dir))] = path.read_text(errors="replace")
    return texts


def _reproduce(line: str, server: EmbeddedServer) -> int:
    """The status the reproducer's request gets, run by bash as a reader would, with
    a token of the reader's own in MASIVO_TOKEN."""
    token = httpx.get(
        server.base_url + "/auth/authorize", headers={"x-api-key": server.api_key}
    ).json()["data"]
    completed = subprocess.run(
        ["bash", "-c", f"{line} -o /dev/null -w '%{{http_code}}'"],
        capture_output=True,
        text=True,
        env={"MASIVO_TOKEN": token, "MASIVO_API_KEY": server.api_key, "PATH": "/usr/bin:/bin"},
        timeout=30,
        check=True,
    )
    return int(completed.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_run_with_auth_faults_writes_no_key_and_no_issued_token(
    start_server: Any, tmp_path: Path, scenario: str
) -> None:
    faults, options = SCENARIOS[scenario]
    server = start_server(ServerConfig(faults=frozenset(faults), api_key=CANARY_KEY))
    reports = tmp_path / "reports"
    run = run_cli(
        "run",
        *target_args(server),
        *("--profile", "quick", "--settle-time", "0.2", "-v", *options),
        *("--save-traffic", str(reports / "traffic")),  # the run's HAR and cassette too
        report_dir=reports,
    )
    assert run.exit_code == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert {"AUTH-1", "AUTH-2"} <= set(run.failing())  # the faults were seen and reported
    artefacts = _artefacts(run, reports)
    assert {"junit.xml", "result.json", "report.html", "summary.md"} <= set(artefacts)
    saved = {Path(name).suffix for name in artefacts if name.startswith("traffic/")}
    assert saved == {".har", ".yaml"}, sorted(artefacts)
    secret = _signing_secret(server)
    forged_seen = 0
    for name, text in artefacts.items():
        assert CANARY_KEY not in text, name
        assert CANARY_KEY[::-1] not in text, name  # nor a "wrong" key made of it
        for token in JWT_SHAPED.findall(text):
            assert not _issued_by(token, secret), f"{name}: a token the target issued"
            assert _header(token).get("masivo-conformance") == "forged", f"{name}: {token}"
            forged_seen += 1
    assert forged_seen, "no forged token shown: the AUTH-1 reproducers hide what was sent"

    # The AUTH-1 reproducers send the forged tokens as sent: running one shows the bug.
    assert run.result is not None
    (auth1,) = [r for r in run.result["requirements"] if r["id"] == "AUTH-1"]
    shown = [f["reproducer"] for f in auth1["findings"] if "Bearer eyJ" in f["reproducer"]]
    assert shown, auth1["findings"]
    for line in shown:
        assert _reproduce(line, server) not in (401, 403), line
    # ...and what the run's own key did is shown as the variable.
    (auth3,) = [r for r in run.result["requirements"] if r["id"] == "AUTH-3"]
    assert any('"x-api-key: $MASIVO_API_KEY"' in f["reproducer"] for f in auth3["findings"])
