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
    except ValueError as exc:
        raise SettingsError(
            f"seed file {path}: {exc}",
            'compare it with the packaged seed (README, "The reference server as a shared double")',
        ) from None


class _Fields:
    """A mapping of the seed read with where it sits, so a problem names its place."""

    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, dict):
            raise ValueError(f"{where or 'the file'} must be a mapping, not {type(raw).__name__}")
        self.raw, self.where = raw, where

    def _at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def need(self, key: str) -> Any:
        if self.raw.get(key) is None:
            raise ValueError(f"{self._at(key)} is missing")
        return self.raw[key]

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default) if default is not None else self.need(key)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(f"{self._at(key)} must be text, not {type(value).__name__}")
        return str(value)

    def uuid(self, key: str) -> str:
        value = self.need(key)
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise ValueError(f"{self._at(key)} must be a uuid, not {str(value)[:60]!r}") from None

    def items(self, key: str, *, required: bool = True) -> list[_Fields]:
        value = self.need(key) if required else (self.raw.get(key) or [])
        if not isinstance(value, list):
            raise ValueError(f"{self._at(key)} must be a list, not {type(value).__name__}")
        return [_Fields(item, f"{self._at(key)}[{n}]") for n, item in enumerate(value)]


def _parse(raw: Any) -> Seed:
    top = _Fields(raw, "")
    brand = _Fields(top.need("brand"), "brand")
    brand_id = brand.uuid("id")
    rewards = []
    for r in top.items("rewards"):
        attributes = r.raw.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise ValueError(f"{r.where}.attributes must be a mapping")
        rewards.append(
            Reward(
                id=r.uuid("id"),
                brand_id=None if r.raw.get("global") else brand_id,
                name=r.text("name"),
                description=r.text("description", ""),
                type=_reward_type(r.text("type"), f"{r.where}.type"),
                attributes=dict(attributes),
            )
        )
    known = {r.id for r in rewards}
    campaigns = []
    for c in top.items("campaigns", required=False):
        per_unit = c.raw.get("points_per_unit", 1)
        if not isinstance(per_unit, int | float) or isinstance(per_unit, bool) or per_unit < 0:
            raise ValueError(f"{c.where}.points_per_unit must be a number of at least 0")
        campaigns.append(
            Campaign(
                id=c.uuid("id"),
                name=c.text("name"),
                event_type=c.text("event_type"),
                reward_id=_known(c.uuid("reward_id"), known, f"{c.where}.reward_id"),
                points_per_unit=float(per_unit),
            )
        )
    api_key = top.text("api_key")
    if not api_key.strip():
        raise ValueError("api_key is empty")
    return Seed(brand_id, brand.text("name", ""), api_key, tuple(rewards), tuple(campaigns))


def _reward_type(value: str, where: str) -> str:
    if value not in _REWARD_TYPES:
        raise ValueError(f"{where} {value!r} is not one of {', '.join(sorted(_REWARD_TYPES))}")
    return value


def _known(reward_id: str, known: set[str], where: str) -> str:
    if reward_id not in known:
        raise ValueError(f"{where} {reward_id} is not among the seed's rewards")
    return reward_id
