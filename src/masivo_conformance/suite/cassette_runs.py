"""Recording, replaying and re-recording the deterministic scenarios with cassettes.

`record` writes one cassette per deterministic test (pytest-recording layout under
`cassettes/`), plus `recording.json` with what replay needs to ask the same questions
(the seed that named the customers, the brand and the base path). `replay` runs the same
tests offline against those cassettes; `drift` records them again from a live target
into a temporary folder and compares the two structurally.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from masivo_conformance import __version__
from masivo_conformance.errors import CassetteError
from masivo_conformance.recording.cassettes import iter_cassettes, load_cassette
from masivo_conformance.suite.runner import SuiteRun, project_root, run_pytest, suite_path

__all__ = ["DEFAULT_CASSETTES", "Recording", "record_scenarios", "replay_scenarios"]

DEFAULT_CASSETTES = project_root() / "cassettes"
META_FILE = "recording.json"
REPLAY_HOST = "http://replay.invalid"
# Replay never authorises: the answers come from the cassettes, so any token will do.
REPLAY_TOKEN = "replay-token"  # noqa: S105 - not a secret
# what vcrpy's CannotOverwriteExistingCassetteException says when a test has no cassette
_NO_CASSETTE = "the cassette doesn't exist"
RECORD_SEED = 20261122  # fixed: recorded customer ids are the same on every replay
_SCENARIO_FILES = (
    ("contract", "test_examples.py"),
    ("contract", "test_auth.py"),
    ("stateful", "test_scenarios.py"),
)


def scenario_paths() -> list[Path]:
    return [suite_path(*parts) for parts in _SCENARIO_FILES]


@dataclass(frozen=True)
class Recording:
    """What a replay must know to repeat the recorded requests."""

    seed: int
    brand_id: str
    base_path: str  # path part of the recorded base URL, e.g. /api/storefront/v1
    target: str
    suite_version: str

    def write(self, folder: Path) -> None:
        (folder / META_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> Recording:
        path = folder / META_FILE
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise CassetteError(
                f"no {META_FILE} in {folder}",
                "record cassettes first with `masivo-conformance record`",
            ) from None
        except (ValueError, TypeError) as exc:
            raise CassetteError(
                f"{path} is corrupt ({exc})", "re-record with `masivo-conformance record`"
            ) from None


def record_scenarios(
    folder: Path,
    target_args: list[str],
    *,
    seed: int,
    mode: str = "rewrite",
    extra: list[str] | None = None,
    quiet: bool = False,
) -> SuiteRun:
    """Run the deterministic scenarios against a live target, writing cassettes."""
    if mode == "rewrite" and folder.exists():
        shutil.rmtree(folder)  # a test that no longer exists must not leave a cassette
    folder.mkdir(parents=True, exist_ok=True)
    args = [
        *target_args,
        "--seed",
        str(seed),
        "--masivo-cassettes",
        str(folder),
        "--record-mode",
        mode,
        "--profile",
        "ci",
        "-p",
        "no:cacheprovider",
        "--no-header",
        *(extra or []),
    ]
    return run_pytest(scenario_paths(), args, quiet=quiet)


def check_cassettes(folder: Path) -> int:
    """Load every cassette (a corrupt one raises CassetteError naming the file)."""
    count = 0
    for path in iter_cassettes(folder):
        load_cassette(path, folder)
        count += 1
    if count == 0:
        raise CassetteError(
            f"no cassettes in {folder}", "record them first with `masivo-conformance record`"
        )
    return count


def replay_scenarios(
    folder: Path, *, extra: list[str] | None = None, quiet: bool = False
) -> tuple[Recording, SuiteRun]:
    """Run the recorded scenarios offline: network blocked, answers from the cassettes."""
    if not folder.is_dir():
        raise CassetteError(
            f"cassette folder {folder} does not exist",
            "pass --cassettes with the folder `masivo-conformance record` wrote",
        )
    recording = Recording.read(folder)
    check_cassettes(folder)
    args = [
        "--base-url",
        REPLAY_HOST + recording.base_path,
        "--token",
        REPLAY_TOKEN,
        "--brand-id",
        recording.brand_id,
        "--allow-writes",
        "--seed",
        str(recording.seed),
        "--masivo-cassettes",
        str(folder),
        "--record-mode",
        "none",
        "--block-network",
        "--profile",
        "ci",
        "-p",
        "no:cacheprovider",
        "--no-header",
        *(extra or []),
    ]
    run = run_pytest(scenario_paths(), args, quiet=quiet)
    missing = [o.nodeid for o in run.outcomes if _NO_CASSETTE in (o.error or "")]
    if missing:
        module, _, name = missing[0].partition("::")
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CassetteError(
            f"no cassette {folder / Path(module).stem / name}.yaml{more}",
            "re-record with `masivo-conformance record`",
        )
    return recording, run


def base_path_of(url: str) -> str:
    return urlsplit(url).path.rstrip("/")


def recording_for(seed: int, brand_id: str, base_url: str, target: str) -> Recording:
    return Recording(
        seed=seed,
        brand_id=brand_id,
        base_path=base_path_of(base_url),
        target=target,
        suite_version=__version__,
    )
