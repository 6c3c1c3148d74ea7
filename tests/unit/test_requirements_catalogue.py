"""The requirement catalogue: every contract id, tied to real operations, refused when malformed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from masivo_conformance import contract
from masivo_conformance.contract import catalogue as requirements
from masivo_conformance.errors import ContractDataError

#: The ids of CONTRACT.md section 3, in order.
CONTRACT_IDS = (
    [f"GEN-{n}" for n in range(1, 6)]
    + [f"AUTH-{n}" for n in range(1, 4)]
    + [f"EMIT-{n}" for n in range(1, 6)]
    + [f"FUL-{n}" for n in range(1, 6)]
    + [f"REV-{n}" for n in range(1, 8)]
    + [f"PRV-{n}" for n in range(1, 8)]
)
SHOULD_IDS = {"GEN-5", "AUTH-3", "REV-7", "PRV-7"}


def openapi_operation_ids() -> set[str]:
    spec = yaml.safe_load(contract.openapi_path().read_text(encoding="utf-8"))
    return {
        operation["operationId"]
        for path_item in spec["paths"].values()
        for operation in path_item.values()
    }


def raw_catalogue() -> Any:
    path = contract.schemas_dir() / "requirements.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_catalogue_has_every_contract_id_in_order() -> None:
    assert len(CONTRACT_IDS) == 32
    assert requirements.catalogue().ids == CONTRACT_IDS


def test_levels_match_the_contract() -> None:
    catalogue = requirements.catalogue()
    assert {r.id for r in catalogue if not r.is_must} == SHOULD_IDS
    assert {r.level for r in catalogue} == {"MUST", "SHOULD"}


def test_ids_are_found_by_the_report_pattern() -> None:
    text = " ".join(requirements.catalogue().ids)
    assert requirements.REQUIREMENT_ID.findall(text) == CONTRACT_IDS


@pytest.mark.parametrize("requirement_id", CONTRACT_IDS)
def test_requirement_operations_exist_in_openapi(requirement_id: str) -> None:
    requirement = requirements.catalogue()[requirement_id]
    assert requirement.operations
    assert set(requirement.operations) <= openapi_operation_ids()
    assert requirement.statement.strip()
    assert requirement.title.strip()


def test_sources_are_documented_tags_or_decided() -> None:
    # docs/sources.md lists S1..S30; anything else must be marked DECIDED.
    allowed = {f"S{n}" for n in range(1, 31)} | {"DECIDED"}
    for requirement in requirements.catalogue():
        assert set(requirement.sources) <= allowed, requirement.id


def test_sources_page_lists_every_tag() -> None:
    sources_page = Path(__file__).parents[2] / "docs" / "sources.md"
    text = sources_page.read_text(encoding="utf-8")
    for tag in [f"S{n}" for n in range(1, 31)] + ["X1"]:
        assert f"| {tag} |" in text, tag


def test_every_cited_source_ships_with_a_title_and_an_address() -> None:
    """The wheel carries schemas/sources.yaml: what S1..S30 are, without docs/ (which does
    not ship); its addresses are those of docs/sources.md."""
    shipped = requirements.sources()
    page = (Path(__file__).parents[2] / "docs" / "sources.md").read_text(encoding="utf-8")
    for requirement in requirements.catalogue():
        for tag in requirement.sources:
            source = shipped[tag]
            assert source.title.strip()
            assert source.about.strip()
            assert source.url or tag == "DECIDED", tag
    for tag, source in shipped.items():
        if source.url:
            assert f"| {tag} | {source.url} |" in page, tag


def test_a_cited_source_missing_from_sources_yaml_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schemas = contract.schemas_dir()
    for path in schemas.iterdir():
        if path.is_file():
            (tmp_path / path.name).write_bytes(path.read_bytes())
    listed = yaml.safe_load((schemas / "sources.yaml").read_text(encoding="utf-8"))
    listed["sources"] = [s for s in listed["sources"] if s["id"] != "S3"]
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(listed), encoding="utf-8")
    monkeypatch.setattr(contract, "schemas_dir", lambda: tmp_path)
    requirements.catalogue.cache_clear()
    requirements.sources.cache_clear()
    try:
        with pytest.raises(ContractDataError, match="S3"):
            requirements.catalogue()
    finally:
        requirements.catalogue.cache_clear()
        requirements.sources.cache_clear()


def test_duplicate_id_is_refused() -> None:
    document = raw_catalogue()
    document["requirements"].append(copy.deepcopy(document["requirements"][0]))
    with pytest.raises(ContractDataError, match="GEN-1"):
        requirements._parse(document)


def test_bad_level_is_refused() -> None:
    document = raw_catalogue()
    document["requirements"][0]["level"] = "MAY"
    with pytest.raises(ContractDataError, match="malformed"):
        requirements._parse(document)


def test_unknown_operation_is_refused() -> None:
    document = raw_catalogue()
    document["requirements"][0]["operations"] = ["delete_everything"]
    with pytest.raises(ContractDataError, match="malformed"):
        requirements._parse(document)


def test_well_formed_copy_parses() -> None:
    # The refusals above come from the one change each makes, not from the copy.
    assert requirements._parse(raw_catalogue()).ids == CONTRACT_IDS
