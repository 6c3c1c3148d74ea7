"""What a team's own tests get from the user plugin: wallets that compare as the contract
reads them, a Settlement that carries its event's id, and the violations a test's
answers broke shown whether its own assertions held or failed."""

from __future__ import annotations

# Imported before any pytester run here: see the note in test_plugin.py.
import httpcore  # noqa: F401
import httpx
import pytest

from masivo_conformance.checks.invariants import Wallet
from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.plugin import VIOLATIONS_SECTION
from masivo_conformance.suite.storefront import IdFactory, Storefront

POINTS = "r-points"


@pytest.mark.parametrize(
    ("read", "other"),
    [
        (Wallet({POINTS: 0.0}), {}),  # before an earn, and after its reverse
        (Wallet(), {POINTS: 0.0}),
        (Wallet({POINTS: 200.0, "stars": 0.0}), {POINTS: 200.0}),
        (Wallet({POINTS: 1e-9}), Wallet()),  # within the tolerance
    ],
)
def test_a_reward_not_listed_holds_zero(read: Wallet, other: dict[str, float]) -> None:
    assert read == other
    assert other == read  # a plain dict on the left asks the Wallet
    assert (read != other) is False  # != is the opposite of ==, not dict's own
    assert (other != read) is False


@pytest.mark.parametrize(
    "other",
    [{POINTS: 200.0}, {"stars": 1.0}, {POINTS: 0.5, "stars": 0.0}],
)
def test_a_different_total_is_a_different_wallet(other: dict[str, float]) -> None:
    read = Wallet({POINTS: 0.0})
    assert read != other
    assert other != read
    assert (read == other) is False
    assert read != 0  # not a mapping: not equal either


def _storefront(event: dict[str, object]) -> Storefront:
    """A storefront over a stub that answers every request with `event` (or an empty list
    for list_transactions): what settling needs, and nothing else."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/transactions"):
            return httpx.Response(200, json={"data": []})
        return httpx.Response(201, json={"data": event})

    client = ApiClient("http://127.0.0.1:9/v1", token="t", transport=httpx.MockTransport(answer))
    return Storefront(client, brand_id="b", ids=IdFactory("s"), writes_allowed=True, settle_time=0)


@pytest.mark.parametrize("status", ["RESOLVED", "PENDING"])
def test_a_settlement_carries_its_events_id(status: str) -> None:
    storefront = _storefront({"id": "ev-42", "status": status})
    settled = storefront.settle(storefront.emit({"type": "PURCHASE"}))
    assert (settled.event_id, settled.status) == ("ev-42", status)


TEAM_TESTS = """
def test_own_assertion_holds(storefront):
    customer = storefront.create_customer()
    earned = storefront.earn(customer, value=50.0)
    assert earned.status == "RESOLVED"  # holds: the storefront reads it case-blind

def test_own_assertion_fails(storefront):
    customer = storefront.create_customer()
    emitted = storefront.emit_purchase(customer, fulfilled=False)
    assert emitted.data["status"] == "PENDING"  # fails: the answer says 'pending'

def test_no_violation(masivo_server):
    assert 1 == 2
"""


def test_violations_are_shown_whether_the_teams_assertion_held_or_failed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        "import pytest\n"
        "@pytest.fixture\n"
        "def masivo_target(masivo_server):\n"
        '    return masivo_server(faults=["lowercase_status"]).target\n'
    )
    pytester.makepyfile(TEAM_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    held = out[
        out.index("_ test_own_assertion_holds _") : out.index("_ test_own_assertion_fails _")
    ]
    failed = out[out.index("_ test_own_assertion_fails _") : out.index("_ test_no_violation _")]
    plain = out[out.index("_ test_no_violation _") :]
    # Held: the violations are the failure; failed: they follow the team's own failure.
    assert "[GEN-4]" in held
    assert "'resolved' is not one of" in held
    assert "AssertionError: assert 'pending' == 'PENDING'" in failed
    assert f" {VIOLATIONS_SECTION} " in failed
    assert failed.index("AssertionError") < failed.index("[GEN-4]")
    assert "'pending' is not one of" in failed
    for shown in (held, failed):
        assert "    reproduce: " in shown
        assert "curl -sS -X POST" in shown
    assert VIOLATIONS_SECTION not in plain  # no storefront, nothing recorded, nothing added
    assert "Traceback" not in out
