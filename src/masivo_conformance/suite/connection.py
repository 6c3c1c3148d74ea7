"""A target resolved once, and what talks to it: the one place a client is opened and a
`Storefront` is built, for the plugin's `storefront`, the suite's fixtures and `cleanup`.

A `Connection` holds the settings as they were resolved, the `Target` (the embedded
server started, or a remote one that passed `preflight`), the `ApiClient` (its request
budget, its token) and the `EventLog` of what it created. Whoever opened it closes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.suite.budget import RequestBudget
from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.settings import Settings, is_loopback
from masivo_conformance.suite.storefront import EventLog, IdFactory, Storefront
from masivo_conformance.suite.target import Target

__all__ = ["Connection"]


@dataclass
class Connection:
    settings: Settings
    target: Target
    client: ApiClient
    events: EventLog = field(default_factory=EventLog)

    @classmethod
    def open(
        cls,
        settings: Settings,
        target: Target,
        *,
        budget: RequestBudget | None = None,
        events: EventLog | None = None,
    ) -> Connection:
        client = ApiClient(
            target.base_url,
            api_key=target.api_key,
            token=target.token,
            timeout=settings.timeout,
            budget=budget,
        )
        return cls(settings, target, client, events if events is not None else EventLog())

    @property
    def writes_allowed(self) -> bool:
        """What the settings allow (`Settings.writes_allowed`), and writes to a loopback
        target: a team may point `masivo_target` at a double of its own."""
        return self.settings.writes_allowed or is_loopback(self.target.base_url)

    def storefront(
        self,
        ids: IdFactory,
        *,
        evidence: Evidence | None = None,
        writes_allowed: bool | None = None,
        settle_time: float | None = None,
    ) -> Storefront:
        """A judged view of the target with customer ids from `ids`; the settings' own
        write permission and settle times unless told otherwise (a `settle_time` given
        is the only wait: set-up reads and cleanup wait for nothing)."""
        settled = settle_time is None
        return Storefront(
            self.client,
            brand_id=self.target.brand_id,
            ids=ids,
            writes_allowed=self.writes_allowed if writes_allowed is None else writes_allowed,
            settle_time=self.settings.settle_time if settle_time is None else settle_time,
            settle_timeout=self.settings.settle_timeout if settled else None,
            evidence=evidence,
            events=self.events,
            host=self.target.base_url,
        )

    def close(self) -> None:
        self.client.close()
