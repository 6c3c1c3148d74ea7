"""The route table: which operation of the contract a request is, read from the OpenAPI
document's paths once.

The client's judged calls, the fuzz judge (both through `checks.calls.Call`) and the
cassettes (which name interactions by path template) all ask this table, so a URL means
the same operation everywhere. Matching is on the path's tail: a base URL may carry a
path of its own (`/api/storefront/v1`) before the contract's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import yaml

from masivo_conformance.contract.schemas import openapi_path
from masivo_conformance.errors import MasivoError

__all__ = ["EVENT_OPERATIONS", "Route", "Routed", "operation_name", "route_for", "routes"]

# The operations whose answer is an Event envelope (CONTRACT section 3).
EVENT_OPERATIONS = frozenset({"emit_event", "fulfill_event", "reverse_event"})

_METHODS = ("get", "put", "post", "patch", "delete")


@dataclass(frozen=True)
class Route:
    method: str  # upper case
    template: str  # as in the OpenAPI document: /behavior/events/{eventId}/reverse
    operation: str  # its operationId
    pattern: re.Pattern[str]  # matches a path ending with the template

    @property
    def segments(self) -> int:
        return self.template.strip("/").count("/") + 1


@dataclass(frozen=True)
class Routed:
    """A request's path matched to a route."""

    route: Route
    params: dict[str, str]
    prefix: str  # the part of the path before the template (the base URL's path)

    @property
    def operation(self) -> str:
        return self.route.operation

    @property
    def template_path(self) -> str:
        """The path with the template in place of the ids: prefix + template."""
        return self.prefix + self.route.template


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template.rstrip("/"))
    # re.split alternates literal text and parameter names.
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(rf"^(?P<_prefix>.*?){regex}/?$")


@cache
def routes() -> tuple[Route, ...]:
    """Every operation of the OpenAPI document, the longest templates first (so that
    `/behavior/events/{eventId}/reverse` wins over `/behavior/events`)."""
    try:
        document = yaml.safe_load(openapi_path().read_text(encoding="utf-8"))
        paths = document["paths"]
    except (MasivoError, OSError, yaml.YAMLError, KeyError, TypeError):
        return ()  # check_complete() reports missing contract data up front
    table = [
        Route(method.upper(), template, operation["operationId"], _compile(template))
        for template, operations in paths.items()
        for method, operation in operations.items()
        if method in _METHODS and isinstance(operation, dict) and "operationId" in operation
    ]
    return tuple(sorted(table, key=lambda r: (-r.segments, r.template)))


def route_for(method: str | None, path: str) -> Routed | None:
    """The route of a request (any method when `method` is None), or None when the path
    is outside the contract."""
    wanted = method.upper() if method else None
    for route in routes():
        if wanted is not None and route.method != wanted:
            continue
        match = route.pattern.match(path)
        if match:
            params = {k: v for k, v in match.groupdict().items() if k != "_prefix"}
            return Routed(route, params, match.group("_prefix"))
    return None


def operation_name(method: str | None, path: str) -> str:
    """The operation id of a request, or "other" for a path outside the contract."""
    routed = route_for(method, path)
    return routed.operation if routed is not None else "other"
