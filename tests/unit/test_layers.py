"""The import rules of ARCHITECTURE.md hold: each layer imports only the layers below it,
and the reference server shares nothing with the suite but the contract data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "masivo_conformance"


def test_the_layers_of_architecture_md_hold(capsys: pytest.CaptureFixture[str]) -> None:
    code = lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 broken" in out


def test_a_layer_violation_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The same contracts with checks placed above suite: the real imports break it, which
    # shows the linter reads this project's imports and can fail.
    config = (ROOT / ".importlinter").read_text()
    upside_down = config.replace(
        "    masivo_conformance.suite\n    masivo_conformance.proxy\n"
        "    masivo_conformance.reporting\n"
        "    masivo_conformance.checks | masivo_conformance.recording\n",
        "    masivo_conformance.checks | masivo_conformance.recording\n"
        "    masivo_conformance.suite\n    masivo_conformance.proxy\n"
        "    masivo_conformance.reporting\n",
    )
    assert upside_down != config
    (tmp_path / "upside_down.ini").write_text(upside_down)
    code = lint_imports(
        config_filename=str(tmp_path / "upside_down.ini"), no_cache=True, no_logo=True
    )
    assert code != 0
    assert "BROKEN" in capsys.readouterr().out


def _map_rows() -> dict[str, str]:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    return {row.split("|")[1].strip(): row for row in rows}


def test_the_requirement_map_names_files_that_exist_for_every_group() -> None:
    from masivo_conformance.contract.catalogue import catalogue  # noqa: PLC0415

    rows = _map_rows()
    groups = {r.id.split("-")[0] for r in catalogue()}
    assert groups <= set(rows), f"groups missing from ARCHITECTURE.md: {groups - set(rows)}"
    for group in groups:
        for name in re.findall(r"`([\w/]+\.py)`", rows[group]):
            where = ROOT / name if name.startswith("tests/") else PACKAGE / name
            assert where.is_file(), f"ARCHITECTURE.md row {group} names {name}, which is missing"
        text = "".join(
            (ROOT / n if n.startswith("tests/") else PACKAGE / n).read_text()
            for n in re.findall(r"`([\w/]+\.py)`", rows[group])
        )
        # Following the row leads to where the group's ids are judged.
        assert f'"{group}-' in text, f"no file of row {group} mentions a {group} id"
