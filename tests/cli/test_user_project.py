"""A team's own project with masivo-conformance installed, as they would use it.

The project is written to a temporary folder and run by pytest in a process of its own
(this venv's python: the plugin comes from its `pytest11` entry point, as after
`pip install masivo-conformance`), beside pytest-base-url, which owns `--base-url`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

CONFTEST = '''
import pytest
from hypothesis import settings

# The team's own Hypothesis profile: the plugin must leave it as it is. (A profile of
# the team's, not Hypothesis's default: Hypothesis itself loads "ci" when CI is set.)
settings.register_profile("shop", max_examples=7)
settings.load_profile("shop")

@pytest.fixture
def masivo_target(request, masivo_server):
    """storefront against a server of this test: faults from the `faults` marker."""
    marker = request.node.get_closest_marker("faults")
    return masivo_server(faults=marker.args if marker else ()).target
'''

# The team's integration code: a tiny client of their own (not ours) that reads the
# status of the purchases it sends, tolerant of a status in the wrong case.
SHOP = """
import httpx


def send_purchase(base_url, api_key, brand_id, customer_id):
    with httpx.Client(base_url=base_url, timeout=5) as http:
        token = http.get("/auth/authorize", headers={"x-api-key": api_key}).json()["data"]
        auth = {"Authorization": f"Bearer {token}"}
        http.post("/customers", json={"id": customer_id, "name": "A"}, headers=auth)
        order = {"purchase_id": "p-" + customer_id, "value": 10.0, "payment_method": "CREDIT",
                 "products": [{"sku": "S", "amount": 1, "value": 10.0}]}
        event = {"customer_id": customer_id, "brand_id": brand_id, "type": "PURCHASE",
                 "order": order}
        answer = http.post("/behavior/events", json=event, headers=auth)
        return answer.json()["data"]["status"].upper()
"""

TESTS = """
import pytest
from hypothesis import given, settings, strategies as st

from shop import send_purchase


def test_my_code_against_a_faulty_masivo(masivo_server):
    server = masivo_server(faults=["lowercase_status"], delay=0.2)
    assert server.base_url.startswith("http://127.0.0.1:")
    assert send_purchase(server.base_url, server.api_key, server.brand_id, "u-1") == "PENDING"


def test_my_code_against_a_correct_masivo(masivo_server):
    server = masivo_server(delay=0.2)  # effects land late: the event is still pending
    assert send_purchase(server.base_url, server.api_key, server.brand_id, "u-2") == "PENDING"


def test_a_scenario_judged_by_the_contract(storefront):
    customer = storefront.create_customer()
    storefront.earn(customer, value=200.0)
    assert storefront.wallet(customer)
    assert storefront.evidence.violations == 0


@pytest.mark.faults("lowercase_status")
def test_a_scenario_on_a_broken_masivo(storefront):
    customer = storefront.create_customer()
    storefront.emit_purchase(customer)


def test_base_url_is_pytest_base_urls(base_url):
    assert base_url == "https://shop.example"


def test_hypothesis_is_left_as_it_was(request):
    assert settings.get_current_profile_name() == "shop"
    assert settings().max_examples == 7
    assert not request.config.pluginmanager.has_plugin("masivo-recorder")


@given(st.integers())
def test_a_property_of_ours(n):
    assert n + 0 == n
"""


@pytest.fixture(scope="module")
def user_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    project = tmp_path_factory.mktemp("user-project")
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nmarkers = ["faults(*names): faults of the server"]\n'
        'addopts = ["--strict-markers", "-p", "no:cacheprovider"]\n'
    )
    (project / "conftest.py").write_text(CONFTEST)
    (project / "shop.py").write_text(SHOP)
    (project / "test_shop.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASIVO_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "--base-url", "https://shop.example"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_both_fixtures_work_in_a_users_project(
    user_run: subprocess.CompletedProcess[str],
) -> None:
    out = user_run.stdout
    plugins = out[out.index("plugins:") :].splitlines()[0]
    assert "base-url-2" in plugins  # both plugins are loaded, and pytest started
    assert "masivo-conformance" in plugins
    for name in (
        "test_my_code_against_a_faulty_masivo",
        "test_my_code_against_a_correct_masivo",
        "test_a_scenario_judged_by_the_contract",
        "test_base_url_is_pytest_base_urls",
    ):
        assert f"PASSED test_shop.py::{name}" in out, out[-4000:]


@pytest.mark.slow
def test_a_contract_violation_fails_the_users_test_with_id_and_reproducer(
    user_run: subprocess.CompletedProcess[str],
) -> None:
    out = user_run.stdout
    assert "FAILED test_shop.py::test_a_scenario_on_a_broken_masivo" in out, out[-4000:]
    assert "1 failed, 6 passed" in out, out[-2000:]
    failure = out[out.index("test_a_scenario_on_a_broken_masivo ___") :]
    assert "[GEN-4]" in failure
    assert re.search(r"reproduce: (MASIVO_TOKEN=.*?; )?curl ", failure), failure
    assert "Traceback" not in out + user_run.stderr


@pytest.mark.slow
def test_the_plugin_changes_nothing_a_test_did_not_ask_for(
    user_run: subprocess.CompletedProcess[str],
) -> None:
    out = user_run.stdout
    assert "PASSED test_shop.py::test_hypothesis_is_left_as_it_was" in out, out[-4000:]
    assert "PASSED test_shop.py::test_a_property_of_ours" in out
    assert "masivo:" not in out  # no suite summary line, no cleanup line
