"""The target of a run: a base URL with credentials and a brand, or the embedded server."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx

from masivo_conformance import scrub
from masivo_conformance.errors import SettingsError, TargetError
from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.settings import Settings

__all__ = [
    "BRAND_SHOWN",
    "Target",
    "live_target",
    "open_target",
    "preflight",
    "shown_brand",
]

#: A brand id a message quotes keeps at most this many characters (after redaction): a
#: uuid is 36; a target that names a 5 MB brand must not put 5 MB in an error line.
BRAND_SHOWN = 80


@dataclass(frozen=True)
class Target:
    base_url: str
    brand_id: str
    api_key: str | None = None
    token: str | None = None
    embedded: bool = False


@contextmanager
def open_target(settings: Settings) -> Iterator[Target]:
    """Yield the target; with no base URL, the embedded reference server runs meanwhile."""
    if settings.embedded:
        # Imported here: only the embedded mode needs the server's dependencies loaded.
        from masivo_conformance.server.embedded import EmbeddedServer  # noqa: PLC0415

        with EmbeddedServer() as server:
            yield Target(server.base_url, server.brand_id, api_key=server.api_key, embedded=True)
        return
    if not settings.brand_id:
        raise SettingsError(
            f"no brand for {settings.base_url}",
            "set MASIVO_BRAND_ID (or --brand-id) to a brand of that account",
        )
    assert settings.base_url is not None  # settings.embedded is False
    yield Target(
        settings.base_url, settings.brand_id, api_key=settings.api_key, token=settings.token
    )


def checked(settings: Settings) -> Settings:
    """The settings once a remote target has passed `preflight` (reachable, credentials
    accepted, its brand known or discovered); the embedded server needs no check."""
    if settings.embedded:
        return settings
    assert settings.base_url is not None
    target = preflight(
        Target(
            settings.base_url,
            settings.brand_id or "",
            api_key=settings.api_key,
            token=settings.token,
        ),
        timeout=settings.timeout,
    )
    return replace(settings, brand_id=target.brand_id)


@contextmanager
def live_target(settings: Settings) -> Iterator[Settings]:
    """Like `open_target`, for commands that hand the target on to a suite session: the
    settings of the target, checked or started, with its base URL, key and brand."""
    with open_target(checked(settings)) as target:
        yield replace(
            settings,
            base_url=target.base_url,
            brand_id=target.brand_id,
            api_key=target.api_key,
            token=target.token,
        )


def preflight(target: Target, timeout: float = 10.0) -> Target:
    """Fail fast, with one clear line, when the target cannot be used at all.

    Returns the target with its brand: with none given, the only brand its rewards list.
    """
    client = ApiClient(target.base_url, api_key=target.api_key, token=target.token, timeout=timeout)
    try:
        client.token()  # exchanges the API key; raises TargetError when refused or unreachable
        if not target.brand_id:
            target = replace(target, brand_id=_only_brand(client, target.base_url))
        response = client.request(
            "GET", "/rewards", params={"from": 0, "to": 1, "brand_id": target.brand_id}
        )
    finally:
        client.close()
    if response.status_code in (401, 403):
        raise TargetError(
            f"{target.base_url} refused our credentials (HTTP {response.status_code})",
            "check MASIVO_API_KEY or MASIVO_TOKEN for this target",
        )
    if response.status_code == 404 and "json" not in response.headers.get("content-type", ""):
        raise TargetError(
            f"{target.base_url} has no storefront API (GET /rewards answered 404)",
            "the base URL should end in /api/storefront/v1",
        )
    listed = _json(response)
    if response.status_code == 200 and isinstance(listed, dict) and listed.get("data") == []:
        # No brand endpoint is in the contract: a brand with no rewards is how an unknown
        # brand shows, and the suite needs a POINTS reward of the brand anyway.
        raise TargetError(
            f"brand {shown_brand(target.brand_id)} lists no rewards on {target.base_url}",
            "check MASIVO_BRAND_ID (or --brand-id): the suite needs a brand with a POINTS reward",
        )
    if 400 <= response.status_code < 500:
        raise TargetError(
            f"{target.base_url} refused brand {shown_brand(target.brand_id)} "
            f"(HTTP {response.status_code})",
            "check MASIVO_BRAND_ID (or --brand-id)",
        )
    return target


def _only_brand(client: ApiClient, base_url: str) -> str:
    """The brand id when the account's rewards name exactly one (said on stderr), else
    a SettingsError: with no brand endpoint in the contract, the rewards are the only hint."""
    response = client.request("GET", "/rewards", params={"from": 0, "to": 99})
    listed = _json(response) if response.status_code == 200 else None
    rewards = listed.get("data") if isinstance(listed, dict) else None
    brands: list[str] = sorted(
        {
            r["brand_id"]
            for r in (rewards if isinstance(rewards, list) else [])
            if isinstance(r, dict) and isinstance(r.get("brand_id"), str) and r["brand_id"]
        }
    )
    if len(brands) == 1:
        print(
            f"masivo-conformance: no brand id given: using {shown_brand(brands[0])}, the only "
            f"brand the rewards of {base_url} name (set MASIVO_BRAND_ID or --brand-id to choose)",
            file=sys.stderr,
        )
        return brands[0]
    listed = ", ".join(shown_brand(b) for b in brands[:5]) + (", ..." if len(brands) > 5 else "")
    raise SettingsError(
        f"no brand id for {base_url}",
        f"set MASIVO_BRAND_ID or --brand-id (the rewards list {len(brands)} brands"
        + (f": {listed})" if brands else ")"),
    )


def shown_brand(brand_id: str) -> str:
    """A brand id the target chose, as a message may quote it: data, never commands.

    Redacted, then cut to BRAND_SHOWN characters (in that order: a cut could split a
    secret so that it no longer matches), then written as a JSON string with
    ensure_ascii: quoted, and with every control character, line break and non-ASCII
    character escaped, so ESC sequences or a new line starting `::error::` stay text.
    """
    return json.dumps(scrub.excerpt(brand_id, BRAND_SHOWN), ensure_ascii=True)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
