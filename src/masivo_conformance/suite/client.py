"""HTTP transport to a target: bearer auth with refresh, 429 back-off, a request budget,
and a curl reproducer for every exchange (with the token left out).

Every answer is read under the bounds of checks/limits.py (suite/bounded.py). Connection
problems become `TargetError`s that say what is wrong and what to do.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from masivo_conformance import scrub
from masivo_conformance.checks.limits import (
    BREACH_EXTENSION,
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    TOO_DEEP,
    TOO_LARGE,
)
from masivo_conformance.contract.routes import operation_name
from masivo_conformance.errors import NoAnswer, TargetError, TargetStopped
from masivo_conformance.suite.bounded import PROBE, BoundedClient
from masivo_conformance.suite.budget import (
    MAX_429_RETRIES,
    MAX_RETRY_AFTER_S,
    BudgetSpent,
    RateLimited,
    RequestBudget,
    retry_after,
)
from masivo_conformance.suite.recent import recent_requests

__all__ = [
    "MAX_429_RETRIES",
    "MAX_RETRY_AFTER_S",
    "ApiClient",
    "BudgetSpent",
    "RateLimited",
    "RequestBudget",
    "retry_after",
]

REFRESH_MARGIN_S = 300  # the Masivo guide refreshes five minutes before exp


def _token_expiry(token: str) -> float | None:
    """The `exp` of a JWT, read without verifying it (we are its holder, not its judge)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None


def _connection_error(base_url: str, exc: Exception) -> TargetError:
    text = str(exc)
    if isinstance(exc, httpx.TimeoutException):
        what = f"{base_url} did not answer in time ({type(exc).__name__})"
        todo = "check the host is up, or raise the timeout with --timeout"
    elif isinstance(exc.__context__, ssl.SSLError) or "SSL" in text or "certificate" in text:
        what = f"TLS handshake with {base_url} failed ({text[:120]})"
        todo = "check the URL's scheme and the server's certificate"
    elif (
        "Name or service not known" in text
        or "nodename nor servname" in text
        or "getaddrinfo" in text
        or "Temporary failure in name resolution" in text
    ):
        what = f"cannot resolve the host of {base_url}"
        todo = "check the spelling of MASIVO_BASE_URL / --base-url"
    elif "refused" in text.lower():
        what = f"cannot reach {base_url} (connection refused)"
        todo = "is the server running? set MASIVO_BASE_URL, or omit it to use the embedded server"
    else:
        what = f"cannot reach {base_url} ({type(exc).__name__}: {text[:120]})"
        todo = "check the URL and the network"
    return TargetError(what, todo)


class ApiClient:
    """Requests against one base URL, authenticated as the Masivo guide describes."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
        budget: RequestBudget | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Known before any request: no recording, report or log may show them.
        scrub.register_secret(api_key)
        scrub.register_secret(token)
        self._api_key = api_key
        self._token = token
        self._token_exp = _token_expiry(token) if token else None
        self._lock = threading.Lock()
        self.budget = budget or RequestBudget(timeout=timeout)
        self._http = BoundedClient(timeout=timeout, budget=self.budget, transport=transport)
        self._answered = False  # the target answered once: a later silence is an outage

    def responsive(self) -> bool:
        """Whether the target still answers HTTP at all (any status counts)."""
        try:
            self._http.get(
                self.base_url + "/rewards", params={"from": 0, "to": 1}, extensions={PROBE: True}
            )
        except httpx.HTTPError:
            return False
        return True

    def silence(self, where: str, exc: Exception) -> TargetError:
        """What a request without an answer means: before any answer, the target cannot
        be reached; after, an outage if a probe gets no answer either, else one request's
        failure (an error of the test that sent it)."""
        if not self._answered:
            return _connection_error(self.base_url, exc)
        cause = scrub.excerpt(f"{type(exc).__name__}: {exc}", 120).rstrip(": ")
        suspects = recent_requests().last()  # before the probe, which is sent too
        if not self.responsive():
            named = "; ".join(f"{sent.method} {scrub.excerpt(sent.url, 120)}" for sent in suspects)
            return TargetStopped(
                f"the target stopped answering at {where} ({cause}); the last requests "
                f"sent before, newest first, the suspects: {named or 'none'}",
                "the verdicts so far and the suspects' curl lines are in the report; "
                "check the target and run again",
                suspects=tuple(sent.reproduce() for sent in suspects),
            )
        return NoAnswer(f"{where} got no answer ({cause}) while the target answers others")

    def close(self) -> None:
        self._http.close()

    # -- authentication -------------------------------------------------------------------

    def authorize(
        self, api_key: str | None = None, *, sent: Callable[[], None] | None = None
    ) -> httpx.Response:
        """Call `authorize` with an API key (ours unless given); no bearer token is sent."""
        key = api_key if api_key is not None else self._api_key
        headers = {} if key is None else {"x-api-key": key}
        response = self.request("GET", "/auth/authorize", headers=headers, auth=False, sent=sent)
        if response.is_success:
            # Issued to this run: secret before anything can quote the answer.
            scrub.register_token_answer(_json_or_none(response))
        return response

    def token(self, sent: Callable[[], None] | None = None) -> str:
        """A bearer token valid for a while yet: the given one, or a fresh exchange (told
        to `sent`: the request that needed it pays for it)."""
        with self._lock:
            fresh_enough = (
                self._token_exp is None or self._token_exp - time.time() > REFRESH_MARGIN_S
            )
            if self._token and (fresh_enough or not self._api_key):
                return self._token
            if not self._api_key:
                raise TargetError("no credentials", "set MASIVO_API_KEY or MASIVO_TOKEN")
            response = self.authorize(sent=sent)
            breach = response.extensions.get(BREACH_EXTENSION, "")
            if breach:
                raise TargetError(
                    f"authorize at {self.base_url}/auth/authorize gave no usable answer "
                    f"(HTTP {response.status_code}, {breach})",
                    _what_to_do(breach),
                )
            body = _json_or_none(response)
            token = body.get("data") if isinstance(body, dict) else None
            if response.status_code not in (401, 403) and (
                response.status_code == 404 or body is None
            ):
                # Not a refusal: nothing at that path speaks the storefront API.
                kind = response.headers.get("content-type", "no content type").split(";")[0]
                raise TargetError(
                    f"authorize at {self.base_url}/auth/authorize answered "
                    f"{response.status_code} ({kind or 'no content type'})",
                    "is the base URL right? it should end in /api/storefront/v1",
                )
            if response.status_code != 200 or not isinstance(token, str):
                raise TargetError(
                    f"authorize refused the API key (HTTP {response.status_code})",
                    "check MASIVO_API_KEY / --api-key for this target",
                )
            self._token, self._token_exp = token, _token_expiry(token)
            return token

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        sent: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """Send one request (retrying a 429 after its Retry-After) and return the response;
        `sent` is told of each request the budget counted (a test's own tally)."""
        all_headers = dict(headers or {})
        if auth and "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Bearer {self.token(sent)}"
        if json_body is not None:
            content = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        url = self.base_url + path
        operation = operation_name(method, path.split("?", 1)[0])
        for attempt in range(MAX_429_RETRIES + 1):
            self.budget.take(operation)
            if sent is not None:
                sent()
            try:
                response = self._http.request(
                    method, url, content=content, params=params, headers=all_headers
                )
            except httpx.TransportError as exc:
                if self.budget.past_deadline():  # its read timeout was cut to the deadline
                    raise self.budget.out_of_time() from None
                raise self.silence(f"{method} {path}", exc) from None
            self._answered = True
            self.budget.observe_remaining(response.headers.get("X-RateLimit-Remaining"))
            if response.status_code != 429:
                return response
            self.budget.observe_throttled(f"{method} {path.split('?', 1)[0]}")
            if attempt == MAX_429_RETRIES:
                return response
            self.budget.wait_to_retry(response.headers.get("Retry-After"), f"{method} {path}")
        raise AssertionError("unreachable")  # pragma: no cover


def _what_to_do(breach: str) -> str:
    """What to do about an answer the suite would not read whole (checks/limits.py)."""
    if breach in (TOO_LARGE, TOO_DEEP):
        return (
            "check what answers at this URL: the suite reads at most "
            f"{MAX_BODY_BYTES // 2**20} MiB of an answer, nested at most {MAX_JSON_DEPTH} levels"
        )
    return (
        "check the target; if it is only slow, raise --timeout "
        "(the whole answer must arrive within it)"
    )


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested beyond Python's limit
        return None
