"""A team's seed file: what `serve --seed` accepts, and one line naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from masivo_conformance.errors import SettingsError
from masivo_conformance.server.seed import DEFAULT_SEED, load_seed

BRAND = "3b8fad47-98c2-4d11-886a-36729bdcc468"
REWARD = "701d6742-c510-430f-9494-c43068546752"
GOOD = f"""
brand: {{id: {BRAND}, name: Team Coffee}}
api_key: team-key
rewards:
  - {{id: {REWARD}, name: Points, type: POINTS, attributes: {{conversion_factor: 0.5}}}}
campaigns:
  - {{id: 9c29b99c-7749-4b21-a5ec-47e90ac90930, name: Double, event_type: PURCHASE,
     reward_id: {REWARD}, points_per_unit: 2}}
"""


def test_a_team_seed_gives_its_brand_key_rewards_and_campaigns(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(GOOD)
    seed = load_seed(path)
    assert (seed.brand_id, seed.brand_name, seed.api_key) == (BRAND, "Team Coffee", "team-key")
    assert [(r.id, r.type, r.conversion_factor) for r in seed.rewards] == [(REWARD, "POINTS", 0.5)]
    assert [(c.reward_id, c.points_per_unit) for c in seed.campaigns] == [(REWARD, 2.0)]
    assert load_seed(DEFAULT_SEED).rewards  # the packaged one still reads


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "the file must be a mapping"),
        (GOOD.replace("rewards:", "prizes:"), "rewards is missing"),
        (GOOD.replace(f"id: {BRAND}", "id: coffee"), "brand.id must be a uuid, not 'coffee'"),
        (GOOD.replace("type: POINTS", "type: BONUS"), "rewards[0].type 'BONUS' is not one of"),
        (GOOD.replace("api_key: team-key", "api_key: ''"), "api_key is empty"),
        (GOOD.replace(f"reward_id: {REWARD}", f"reward_id: {BRAND}"), "campaigns[0].reward_id"),
        (GOOD.replace("points_per_unit: 2", "points_per_unit: -1"), "campaigns[0].points_per_unit"),
        (GOOD.replace("name: Points, ", ""), "rewards[0].name is missing"),
    ],
    ids=[
        "empty",
        "no-rewards",
        "bad-uuid",
        "bad-type",
        "empty-key",
        "unknown-reward",
        "negative",
        "no-name",
    ],
)
def test_a_wrong_seed_is_one_line_naming_the_place(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError) as raised:
        load_seed(path)
    message = str(raised.value)
    assert said in message
    assert str(path) in message
    assert "\n" not in message
