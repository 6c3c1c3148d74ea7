"""Recording, replaying and re-recording the deterministic scenarios with cassettes.

`record` writes one cassette per deterministic test (pytest-recording layout, under
`./cassettes` by default), plus `recording.json` with what replay needs to ask the same
questions (the seed that named the customers, the brand and the base path). `replay` runs
the same tests offline against those cassettes; `drift` records them again from a live
target into a temporary folder and compares the two structurally.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from masivo_conformance import __version__
from masivo_conformance.errors import CassetteError
from masivo_conformance.recording.cassettes import iter_cassettes, load_cassette
from masivo_conformance.suite.runner import SuiteRun, run_pytest, suite_path
from masivo_conformance.suite.session import SuiteOptions
from masivo_conformance.suite.settings import Settings

__all__ = [
    "DEFAULT_CASSETTES",
    "LIVE_AUTHORIZE_REASON",
    "NEEDS_LIVE_AUTHORIZE",
    "Recording",
    "check_record_folder",
    "record_scenarios",
    "replay_scenarios",
]

# Relative on purpose: the working directory's ./cassettes (in a checkout, the committed
# ones), never a folder inside the installed package.
DEFAULT_CASSETTES = Path("cassettes")
META_FILE = "recording.json"
REPLAY_HOST = "http://replay.invalid"
# Replay never authorises: the answers come from the cassettes, so any token will do.
REPLAY_TOKEN = "replay-token"  # noqa: S105 - not a secret
# The requirements no cassette can judge: they need a live authorize (a recorded JWT is
# scrubbed to <redacted>, and replay holds no key). Replay shows them as not checked, with
# this reason, and leaves them out of its exit code; every other MUST counts as in `run`.
NEEDS_LIVE_AUTHORIZE = ("AUTH-2", "AUTH-3")
LIVE_AUTHORIZE_REASON = (
    "not checked on replay: a cassette holds no live authorize (the recorded token is "
    "redacted and replay has no API key); `masivo-conformance run` judges it"
)
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


def check_record_folder(folder: Path) -> None:
    """Refuse to record into a folder whose content a rewrite would destroy.

    Recording replaces the whole folder, so it must be new, empty, or hold only what a
    recording writes: recording.json and cassette .yaml files (an interrupted recording
    has the cassettes without recording.json).
    """
    if not folder.exists():
        return
    if not folder.is_dir():
        raise CassetteError(
            f"cassette folder {folder} is a file", "give --cassettes the path of a folder"
        )
    files = [p for p in folder.rglob("*") if not p.is_dir()]
    strangers = [p for p in files if p.suffix != ".yaml" and p != folder / META_FILE]
    if strangers:
        raise CassetteError(
            f"{folder} does not look like a cassette folder ({strangers[0]} is not a "
            "cassette); recording would delete it",
            "give --cassettes a new or empty folder, or one `masivo-conformance record` wrote",
        )


def record_scenarios(
    folder: Path,
    settings: Settings,
    *,
    seed: int,
    mode: str = "rewrite",
    extra: list[str] | None = None,
    quiet: bool = False,
) -> SuiteRun:
    """Run the deterministic scenarios against a live target, writing cassettes."""
    check_record_folder(folder)
    if mode == "rewrite" and folder.exists():
        shutil.rmtree(folder)  # a test that no longer exists must not leave a cassette
    folder.mkdir(parents=True, exist_ok=True)
    args = ["--record-mode", mode, "-p", "no:cacheprovider", "--no-header", *(extra or [])]
    options = SuiteOptions(replace(settings, seed=seed), cassettes=folder)
    return run_pytest(scenario_paths(), args, options, quiet=quiet)


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
        "--record-mode",
        "none",
        "--block-network",
        "-p",
        "no:cacheprovider",
        "--no-header",
        *(extra or []),
    ]
    settings = Settings(
        base_url=REPLAY_HOST + recording.base_path,
        token=REPLAY_TOKEN,
        brand_id=recording.brand_id,
        allow_writes=True,
        seed=recording.seed,
    )
    run = run_pytest(scenario_paths(), args, SuiteOptions(settings, cassettes=folder), quiet=quiet)
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
