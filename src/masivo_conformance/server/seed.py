"""The business a reference server plays: brand, API key, rewards and campaigns (YAML)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from masivo_conformance.errors import SettingsError

__all__ = ["DEFAULT_SEED", "VARIANT_SEED", "Campaign", "Reward", "Seed", "load_seed"]

DEFAULT_SEED = Path(__file__).with_name("seed.yaml")
VARIANT_SEED = Path(__file__).with_name("seed-variant.yaml")

_REWARD_TYPES = frozenset({"POINTS", "DISCOUNT", "GIFT_CARD", "PRODUCT"})


@dataclass(frozen=True)
class Reward:
    id: str
    brand_id: str | None  # None: a global reward, offered by every brand of the account
    name: str
    description: str
    type: str
    attributes: dict[str, Any]

    @property
    def conversion_factor(self) -> float:
        """Currency units one point is worth (POINTS rewards)."""
        return float(self.attributes.get("conversion_factor", 0.0))

    @property
    def percentage(self) -> float:
        """Fraction of a level's value taken off (DISCOUNT rewards)."""
        return float(self.attributes.get("percentage", 0.0))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "brand_id": self.brand_id,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "conditions": [],
            "attributes": dict(self.attributes),
            "platforms": None,
        }


@dataclass(frozen=True)
class Campaign:
    """Gives floor(order.value * points_per_unit) of `reward_id` per event of `event_type`."""

    id: str
    name: str
    event_type: str
    reward_id: str
    points_per_unit: float


@dataclass(frozen=True)
class Seed:
    brand_id: str
    brand_name: str
    api_key: str
    rewards: tuple[Reward, ...]
    campaigns: tuple[Campaign, ...]

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)


def load_seed(path: Path | None = None) -> Seed:
    """Read and check a seed file; `None` means the packaged default seed."""
    path = path or DEFAULT_SEED
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(
            f"cannot read seed file {path} ({exc.strerror})",
            "pass an existing YAML file with --seed",
        ) from exc
    except yaml.YAMLError as exc:
        raise SettingsError(
            f"seed file {path} is not valid YAML ({exc})", "fix the YAML syntax"
        ) from exc
    try:
        return _parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise SettingsError(
            f"seed file {path} is incomplete or wrong ({exc!r})",
            "compare it with the packaged server/seed.yaml",
        ) from exc


def _uuid(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def _parse(raw: Any) -> Seed:
    brand_id = _uuid(raw["brand"]["id"])
    rewards = tuple(
        Reward(
            id=_uuid(r["id"]),
            brand_id=None if r.get("global") else brand_id,
            name=str(r["name"]),
            description=str(r.get("description", "")),
            type=_reward_type(r["type"]),
            attributes=dict(r.get("attributes") or {}),
        )
        for r in raw["rewards"]
    )
    known = {r.id for r in rewards}
    campaigns = tuple(
        Campaign(
            id=_uuid(c["id"]),
            name=str(c["name"]),
            event_type=str(c["event_type"]),
            reward_id=_known(_uuid(c["reward_id"]), known),
            points_per_unit=float(c.get("points_per_unit", 1)),
        )
        for c in raw.get("campaigns") or []
    )
    api_key = str(raw["api_key"])
    if not api_key:
        raise ValueError("api_key is empty")
    return Seed(brand_id, str(raw["brand"].get("name", "")), api_key, rewards, campaigns)


def _reward_type(value: Any) -> str:
    if value not in _REWARD_TYPES:
        raise ValueError(f"reward type {value!r} is not one of {sorted(_REWARD_TYPES)}")
    return str(value)


def _known(reward_id: str, known: set[str]) -> str:
    if reward_id not in known:
        raise ValueError(f"campaign reward {reward_id} is not among the seed's rewards")
    return reward_id
