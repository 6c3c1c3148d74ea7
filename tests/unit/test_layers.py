"""The import rules of ARCHITECTURE.md hold: each layer imports only the layers below it,
and the reference server shares nothing with the suite but the contract data."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


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
