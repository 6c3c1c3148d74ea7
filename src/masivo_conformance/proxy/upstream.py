"""`--upstream URL`: where the proxy forwards, checked once with one line if it is wrong.

The proxy serves the upstream's own base path: with upstream
`https://app.masivo.ai/api/storefront/v1`, the app's base URL becomes
`http://127.0.0.1:8080/api/storefront/v1`, and a request's path and query go upstream
as they came.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from masivo_conformance.errors import SettingsError

__all__ = ["Upstream", "parse_upstream"]

_EXAMPLE = "give e.g. {flag} https://app.masivo.ai/api/storefront/v1"


@dataclass(frozen=True)
class Upstream:
    origin: str  # scheme://host[:port], no trailing slash
    base_path: str  # the base URL's path, no trailing slash ("" at the root)

    @property
    def url(self) -> str:
        return self.origin + self.base_path


def parse_upstream(url: str, flag: str = "--upstream") -> Upstream:
    """The upstream of `url`, or a `SettingsError` saying what is wrong and what to do
    (`flag`: where the user gave it)."""
    example = _EXAMPLE.format(flag=flag)
    # Before any message quotes it: a password must not reach an error line.
    if "@" in url:
        raise SettingsError(
            f"{flag} carries a user name and password",
            "give the URL without them: the app's own requests carry its credentials",
        )
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{flag} {url!r} is not an http(s) URL", example)
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise SettingsError(f"{flag} {url!r} has no valid port number", example) from None
    if parts.query or parts.fragment:
        raise SettingsError(
            f"{flag} {url!r} has a query or fragment",
            "give the base URL only: each request brings its own query",
        )
    return Upstream(f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/"))
