"""Target settings: flags, then environment variables, then a targets file (CONTRACT section 4).

The environment variable names are part of the interface: MASIVO_BASE_URL,
MASIVO_API_KEY, MASIVO_TOKEN, MASIVO_BRAND_ID. A targets file (YAML) names targets:

    targets:
      dev:
        base_url: https://app.masivo.ai/api/storefront/v1
        brand_id: 1f0c...            # optional
        api_key_env: MASIVO_DEV_KEY  # which variable holds the key (never the key itself)
        allow_writes: true

A credential variable (`api_key_env`, `token_env`) must be named MASIVO_*: the file
cannot make the suite send another tool's secret (GITHUB_TOKEN, AWS_...) as a key. Its
credential goes only to the `base_url` it is declared with, which the entry must have:
overriding the base URL (flag or MASIVO_BASE_URL) while the credential still comes from
the entry is refused. A base URL never carries a user name or password (docs/decisions.md,
"Where a credential may be sent").
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from masivo_conformance.errors import SettingsError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_TARGETS_FILE",
    "ENV",
    "TARGET_FLAGS",
    "Settings",
    "add_target_options",
    "is_loopback",
    "load_target",
    "load_targets",
    "resolve",
]

DEFAULT_TARGETS_FILE = Path("masivo-targets.yaml")

#: setting name -> environment variable
ENV = {
    "base_url": "MASIVO_BASE_URL",
    "api_key": "MASIVO_API_KEY",
    "token": "MASIVO_TOKEN",
    "brand_id": "MASIVO_BRAND_ID",
}

_TARGET_KEYS = {
    "base_url",
    "brand_id",
    "api_key_env",
    "token_env",
    "allow_writes",
    "settle_time",
    "settle_timeout",
}
_SECONDS_KEYS = ("settle_time", "settle_timeout")
EMBEDDED_SETTLE_TIME = 0.2  # seconds; see resolve()
# Scenarios at a time: a DEV account's limit is per day (1,000 or 2,500 requests), not per
# second, so overlap costs no request; four keep a remote run's time near its longest
# scenario without crowding a shared account (docs/decisions.md, "Concurrent scenarios").
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
#: target keys whose value must be a string -> an example value
_STRING_KEYS = {
    "base_url": '"https://app.masivo.ai/api/storefront/v1"',
    "brand_id": '"1f0c..."',
    "api_key_env": "MASIVO_DEV_KEY",
    "token_env": "MASIVO_DEV_TOKEN",
}
#: target keys that name the environment variable holding a credential -> the setting
_CREDENTIAL_KEYS = {"api_key_env": "api_key", "token_env": "token"}
# This tool's own variables only: a targets file (shared, committed, or handed over) must
# not be able to send GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY or any other secret of the
# environment to the host it names. A prefix rule is one line to learn and needs no list
# of other tools' names to keep up to date.
_CREDENTIAL_VARIABLE = re.compile(r"MASIVO_[A-Z0-9_]+")
_USERINFO_TODO = "remove them; the suite authenticates with MASIVO_API_KEY (or MASIVO_TOKEN)"


@dataclass(frozen=True)
class Settings:
    """Where the suite points and how it behaves there."""

    base_url: str | None = None  # None: start the embedded reference server
    api_key: str | None = None
    token: str | None = None
    brand_id: str | None = None
    allow_writes: bool = False
    timeout: float = 10.0  # seconds per HTTP request, its whole answer included
    max_requests: int | None = None  # request budget of the whole run
    daily_budget: int | None = None  # requests per target and UTC day, across runs
    max_time: float | None = None  # seconds the run may spend sending requests
    settle_timeout: float = 10.0  # longest wait for an event's transactions to appear
    settle_time: float = 1.0  # after this, an event that made no transaction counts as settled
    seed: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY  # scenarios at a time (suite/concurrent_scenarios.py)

    @property
    def embedded(self) -> bool:
        return self.base_url is None

    @property
    def writes_allowed(self) -> bool:
        return self.embedded or self.allow_writes or is_loopback(self.base_url or "")

    def redacted(self) -> dict[str, Any]:
        """The settings as a report may show them: secrets replaced by whether they are set."""
        return {
            "base_url": self.base_url or "embedded reference server",
            "api_key": "set" if self.api_key else "not set",
            "token": "set" if self.token else "not set",
            "brand_id": self.brand_id,
            "allow_writes": self.writes_allowed,
        }


def add_target_options(add: Callable[..., Any], prefix: str = "--") -> None:
    """Declare the target flags through `add` (argparse's add_argument or pytest's addoption:
    both take the same arguments), so the CLI and the pytest plugin share one definition.

    `prefix` namespaces them: the CLI's `--base-url` is the pytest plugin's
    `--masivo-base-url` (a bare `--base-url` belongs to pytest-base-url).
    """
    add(
        f"{prefix}base-url",
        help="target base URL (env MASIVO_BASE_URL); default: the embedded reference server",
    )
    add(f"{prefix}api-key", help="API key exchanged for a JWT (env MASIVO_API_KEY)")
    add(f"{prefix}token", help="ready bearer token (env MASIVO_TOKEN)")
    add(f"{prefix}brand-id", help="brand of emitted events and previews (env MASIVO_BRAND_ID)")
    add(
        f"{prefix}targets-file",
        type=Path,
        help=f"YAML file of named targets (default ./{DEFAULT_TARGETS_FILE})",
    )
    add(f"{prefix}target", help="name of a target in the targets file")
    add(
        f"{prefix}allow-writes",
        action="store_true",
        default=None,
        help="allow operations that write against a host that is not loopback",
    )
    add(
        f"{prefix}timeout",
        type=float,
        help="seconds one HTTP request may take, its whole answer included: an answer "
        "still coming after it is cut, and GEN-3 fails (default 10)",
    )
    add(
        f"{prefix}settle-time",
        type=float,
        help="seconds to wait for late effects, after which an event that listed no "
        "transaction counts as settled (default 1, 0.2 on the embedded server; the rule: "
        "`masivo-conformance requirements EMIT-4`)",
    )
    add(
        f"{prefix}settle-timeout",
        type=float,
        help="longest wait for a fulfilled event to list its transactions once an "
        "identical one has (default 10): past it the event has not settled (EMIT-4)",
    )


#: the `Settings` fields that `add_target_options` declares flags for
TARGET_FLAGS = (
    "base_url",
    "api_key",
    "token",
    "brand_id",
    "allow_writes",
    "timeout",
    "settle_time",
    "settle_timeout",
)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_userinfo(url: str) -> bool:
    """Whether `url` may carry a user name or password (`user:pass@host`).

    Any '@' counts, not only one that `urlsplit` reads as userinfo: in a URL written
    wrongly (no scheme, a '/' inside the password) the password lands in the path, and
    every later message that shows the base URL would show it. A storefront base URL
    never needs an '@'.
    """
    return "@" in url


def _check_url(url: str) -> str:
    # First, before any message quotes the URL: a password must not reach an error line.
    if _has_userinfo(url):
        raise SettingsError("the base URL carries a user name and password", _USERINFO_TODO)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"base URL {url!r} is not an http(s) URL",
            "use e.g. https://app.masivo.ai/api/storefront/v1, or omit it for the embedded server",
        )
    try:
        parts.port  # noqa: B018 - parsing it is the check; httpx would fail with a traceback
    except ValueError:
        raise SettingsError(
            f"base URL {url!r} has no valid port number", "write e.g. http://localhost:8000/v1"
        ) from None
    return url.rstrip("/")


def load_targets(path: Path) -> dict[str, dict[str, Any]]:
    """Read a targets file and check every entry; any problem is one SettingsError naming
    the file and the fix."""
    targets = _read_targets(path)
    for name, entry in targets.items():
        _check_entry(name, entry, path)
    return targets


def load_target(path: Path, name: str) -> dict[str, Any]:
    """The entry `name` of a targets file, checked; the other entries are not (a typo in
    one a run does not use is no reason to refuse it, nor to blame it)."""
    targets = _read_targets(path)
    if name not in targets:
        raise SettingsError(
            f"target {name!r} is not in {path}", f"use one of {', '.join(map(str, targets))}"
        )
    _check_entry(name, targets[name], path)
    return dict(targets[name])


def _read_targets(path: Path) -> dict[Any, Any]:
    """The `targets` mapping of a targets file, its entries unchecked."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(
            f"targets file {path} not found", "create it or pass --targets-file with the right path"
        ) from None
    except OSError as exc:
        raise SettingsError(
            f"cannot read targets file {path} ({exc.strerror})", "check its permissions"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SettingsError(
            f"targets file {path} is not valid YAML{where}", "fix the YAML syntax"
        ) from None
    targets = document.get("targets") if isinstance(document, dict) else None
    if not isinstance(targets, dict) or not targets:
        raise SettingsError(
            f"targets file {path} has no 'targets' mapping",
            "write 'targets:' followed by one entry per named target",
        )
    return targets


def _check_entry(name: object, entry: object, path: Path) -> None:
    """One target entry: a mapping of known keys with values of the right types."""
    if not isinstance(entry, dict):
        raise SettingsError(
            f"target {name!r} in {path} is not a mapping",
            "give it keys such as base_url and api_key_env",
        )
    unknown = sorted(set(entry) - _TARGET_KEYS)
    if unknown:
        raise SettingsError(
            f"target {name!r} in {path} has unknown keys {unknown}",
            f"use only {sorted(_TARGET_KEYS)}",
        )
    for key in _SECONDS_KEYS:
        value = entry.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SettingsError(
                f"target {name!r} in {path}: {key} must be a number of seconds",
                f"write e.g. {key}: 2",
            )
    if "allow_writes" in entry and not isinstance(entry["allow_writes"], bool):
        raise SettingsError(
            f"target {name!r} in {path}: allow_writes must be true or false",
            "write allow_writes: true or allow_writes: false",
        )
    for key, example in _STRING_KEYS.items():
        if key in entry and not isinstance(entry[key], str):
            raise SettingsError(
                f"target {name!r} in {path}: {key} must be a string, "
                f"not {type(entry[key]).__name__}",
                f"quote it, e.g. {key}: {example}",
            )
    _check_credential_keys(name, entry, path)


def _check_credential_keys(name: object, entry: Mapping[str, Any], path: Path) -> None:
    """A target's credential variables are MASIVO_* names, declared with the base URL
    their credential is for; its base URL carries no user name or password."""
    if _has_userinfo(str(entry.get("base_url", ""))):
        raise SettingsError(
            f"target {name!r} in {path}: the base URL carries a user name and password",
            _USERINFO_TODO,
        )
    for key in _CREDENTIAL_KEYS:
        if key not in entry:
            continue
        variable = entry[key]
        if not _CREDENTIAL_VARIABLE.fullmatch(variable):
            raise SettingsError(
                f"target {name!r} in {path}: {key} {variable[:60]!r} is not a MASIVO_* "
                "variable (a targets file may only name this tool's own variables)",
                f"put the credential in a variable such as {_STRING_KEYS[key]} and name that",
            )
        if "base_url" not in entry:
            raise SettingsError(
                f"target {name!r} in {path}: {key} names a credential but the target has "
                "no base_url (the credential is sent only to the base URL it is declared with)",
                "add the base_url that credential is for",
            )


def _from_target(entry: Mapping[str, Any], env: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """The target entry's values, and the credential variable it names that is unset.

    An unset variable is only an error when no flag or environment variable gives the
    credential either, which `resolve` knows once everything is merged.
    """
    values: dict[str, Any] = {
        k: entry[k] for k in ("base_url", "brand_id", "allow_writes", *_SECONDS_KEYS) if k in entry
    }
    unset = ""
    for key, setting in _CREDENTIAL_KEYS.items():
        if key in entry:
            variable = str(entry[key])
            if env.get(variable):
                values[setting] = env[variable]
            elif not unset:
                unset = variable
    return values, unset


def resolve(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    targets_file: Path | None = None,
    target: str | None = None,
) -> Settings:
    """Merge settings: flags win over environment variables, which win over the target entry.

    `flags` holds the command-line values (None when a flag was not given) under the
    field names of `Settings`.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    entry_values: dict[str, Any] = {}
    unset_credential: tuple[str, str] | None = None
    if targets_file and not target:
        names = ", ".join(map(str, _read_targets(targets_file)))
        raise SettingsError(
            f"--targets-file needs --target NAME (the targets in {targets_file}: {names})",
            "pass --target with one of them",
        )
    if target:
        path = targets_file or DEFAULT_TARGETS_FILE
        entry_values, unset = _from_target(load_target(path, target), env)
        values.update(entry_values)
        if unset:
            unset_credential = (
                f"target {target!r} in {path}: environment variable {unset} is not set",
                f"export {unset} with the credential, or pass --api-key / --token",
            )
    for name, variable in ENV.items():
        if env.get(variable):
            values[name] = env[variable]
    values.update({k: v for k, v in flags.items() if v is not None})
    unknown = sorted(set(values) - set(Settings.__dataclass_fields__))
    if unknown:
        raise SettingsError(f"unknown settings {unknown}", "check the flag names")
    if target:
        _keep_credential_with_its_url(entry_values, values, flags, env, target)
    settings = replace(Settings(), **values)
    if settings.embedded and "settle_time" not in values:
        # The embedded reference server applies every effect before it answers: waiting
        # for late effects there proves nothing and cost a quick run two seconds.
        settings = replace(settings, settle_time=EMBEDDED_SETTLE_TIME)
    if settings.base_url is not None:
        settings = replace(settings, base_url=_check_url(settings.base_url))
        if not (settings.api_key or settings.token) and unset_credential:
            raise SettingsError(*unset_credential)
        if not (settings.api_key or settings.token):
            raise SettingsError(
                f"no credentials for {settings.base_url}",
                "set MASIVO_API_KEY (or --api-key), or MASIVO_TOKEN (or --token)",
            )
    _check_numbers(settings)
    return settings


def _keep_credential_with_its_url(
    entry: Mapping[str, Any],
    values: Mapping[str, Any],
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    target: str,
) -> None:
    """Refuse to send a target entry's credential to a base URL other than the entry's.

    The entry's `api_key_env` says "this variable is the key of that host"; a base URL
    from a flag or MASIVO_BASE_URL with the entry's key still in use would send the key
    to a host nobody declared it for. A key from a flag or MASIVO_API_KEY is the user's
    choice for whatever base URL they give, so it is not held to the entry.
    """
    from_entry = [
        setting
        for setting in _CREDENTIAL_KEYS.values()
        # Still the entry's when neither a flag nor the variable outranked it (as merged).
        if setting in entry and flags.get(setting) is None and not env.get(ENV[setting])
    ]
    if not from_entry or "base_url" not in values:
        return
    # Both URLs are compared as `_check_url` leaves them; the check refuses userinfo
    # before anything could quote either one.
    declared, used = _check_url(str(entry["base_url"])), _check_url(str(values["base_url"]))
    if declared == used:
        return
    source = "--base-url" if flags.get("base_url") is not None else ENV["base_url"]
    what = " and ".join("key" if s == "api_key" else "token" for s in from_entry)
    raise SettingsError(
        f"target {target!r}: the {what} it names is declared for its base_url, not for "
        f"the base URL given by {source}",
        f"drop {source}, or give a credential for that URL (--api-key or MASIVO_API_KEY, "
        "--token or MASIVO_TOKEN)",
    )


def _check_numbers(settings: Settings) -> None:
    if not settings.timeout > 0:  # also refuses NaN
        raise SettingsError(
            f"--timeout must be more than 0 seconds (got {settings.timeout:g})",
            "give the seconds to wait for each answer, e.g. --timeout 10",
        )
    for name in _SECONDS_KEYS:
        if getattr(settings, name) < 0:
            raise SettingsError(f"--{name.replace('_', '-')} must not be negative", "give seconds")
    if settings.max_time is not None and not settings.max_time > 0:
        raise SettingsError(
            f"--max-time must be more than 0 seconds (got {settings.max_time:g})",
            "give the seconds the run may take, e.g. --max-time 300",
        )
    if settings.max_requests is not None and settings.max_requests < 1:
        raise SettingsError("--max-requests must be at least 1", "give a positive number")
    if not 1 <= settings.concurrency <= MAX_CONCURRENCY:
        raise SettingsError(
            f"--concurrency must be between 1 and {MAX_CONCURRENCY} (got {settings.concurrency})",
            "give how many scenarios may run at once, e.g. --concurrency 4 (1: one at a time)",
        )
    if settings.daily_budget is not None and settings.daily_budget < 1:
        raise SettingsError("--daily-budget must be at least 1", "give a positive number")
