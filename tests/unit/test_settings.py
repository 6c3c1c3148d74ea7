"""Target settings: precedence, the targets file and its errors, loopback, redaction."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from masivo_conformance.errors import SettingsError
from masivo_conformance.suite.settings import (
    ENV,
    TARGET_FLAGS,
    Settings,
    add_target_options,
    is_loopback,
    load_targets,
    resolve,
)

DEV_URL = "https://app.masivo.ai/api/storefront/v1"
FILE_KEY = "mk_file_key_1234567"
ENV_KEY = "mk_env_key_7654321"
FLAG_KEY = "mk_flag_key_0000000"


def targets_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "masivo-targets.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def dev_targets(tmp_path: Path) -> Path:
    return targets_file(
        tmp_path,
        f"""
targets:
  dev:
    base_url: {DEV_URL}/
    brand_id: brand-from-file
    api_key_env: MASIVO_DEV_KEY
    allow_writes: true
  mock:
    base_url: http://127.0.0.1:8000
    token_env: MASIVO_MOCK_TOKEN
""",
    )


def no_flags(**given: object) -> dict[str, object]:
    """Flags as the CLI hands them over: every flag present, None when not given."""
    flags: dict[str, object] = dict.fromkeys(("base_url", "api_key", "token", "brand_id"))
    flags.update(given)
    return flags


def settings_error(call: object) -> SettingsError:
    assert callable(call)
    with pytest.raises(SettingsError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, "errors are one line"
    assert caught.value.todo, "errors say what to do"
    return caught.value


# -- precedence -------------------------------------------------------------------------------


def test_resolve_takes_the_target_entry_when_nothing_else_is_set(tmp_path: Path) -> None:
    settings = resolve(
        no_flags(), {"MASIVO_DEV_KEY": FILE_KEY}, dev_targets(tmp_path), target="dev"
    )
    assert settings.base_url == DEV_URL  # trailing slash dropped
    assert settings.api_key == FILE_KEY
    assert settings.brand_id == "brand-from-file"
    assert settings.allow_writes is True


def test_resolve_prefers_environment_over_the_targets_file(tmp_path: Path) -> None:
    env = {"MASIVO_DEV_KEY": FILE_KEY, "MASIVO_API_KEY": ENV_KEY, "MASIVO_BRAND_ID": "brand-env"}
    settings = resolve(no_flags(), env, dev_targets(tmp_path), target="dev")
    assert settings.api_key == ENV_KEY
    assert settings.brand_id == "brand-env"
    assert settings.base_url == DEV_URL


def test_resolve_prefers_flags_over_environment_and_file(tmp_path: Path) -> None:
    env = {
        "MASIVO_DEV_KEY": FILE_KEY,
        "MASIVO_API_KEY": ENV_KEY,
        "MASIVO_BRAND_ID": "brand-env",
        "MASIVO_BASE_URL": "https://env.example.test/v1",
    }
    flags = no_flags(api_key=FLAG_KEY, brand_id="brand-flag", base_url="http://localhost:9000")
    settings = resolve(flags, env, dev_targets(tmp_path), target="dev")
    assert settings.api_key == FLAG_KEY
    assert settings.brand_id == "brand-flag"
    assert settings.base_url == "http://localhost:9000"


def test_resolve_ignores_empty_environment_variables(tmp_path: Path) -> None:
    # CI passes an unset repository secret as an empty string: it must not erase the file's.
    env = {"MASIVO_DEV_KEY": FILE_KEY, "MASIVO_BRAND_ID": "", "MASIVO_API_KEY": ""}
    settings = resolve(no_flags(), env, dev_targets(tmp_path), target="dev")
    assert settings.brand_id == "brand-from-file"
    assert settings.api_key == FILE_KEY


def test_resolve_reads_every_documented_environment_variable() -> None:
    env = {
        ENV["base_url"]: "https://mock.example.test/api/",
        ENV["api_key"]: ENV_KEY,
        ENV["token"]: "tok_env_123456",
        ENV["brand_id"]: "brand-env",
    }
    assert set(ENV.values()) == {
        "MASIVO_BASE_URL",
        "MASIVO_API_KEY",
        "MASIVO_TOKEN",
        "MASIVO_BRAND_ID",
    }
    settings = resolve(no_flags(), env)
    assert settings.base_url == "https://mock.example.test/api"
    assert (settings.api_key, settings.token, settings.brand_id) == (
        ENV_KEY,
        "tok_env_123456",
        "brand-env",
    )


def test_resolve_without_a_base_url_means_the_embedded_server() -> None:
    settings = resolve(no_flags(), {})
    assert settings.embedded
    assert settings.writes_allowed


def test_the_embedded_server_settles_at_once_unless_told_otherwise() -> None:
    assert resolve(no_flags(), {}).settle_time == 0.2
    assert resolve(no_flags(settle_time=3.0), {}).settle_time == 3.0
    remote = resolve(no_flags(base_url="http://127.0.0.1:9/v1", token="t"), {})
    assert remote.settle_time == 1.0


def test_target_token_env_is_read_from_the_environment(tmp_path: Path) -> None:
    settings = resolve(
        no_flags(), {"MASIVO_MOCK_TOKEN": "tok_mock_123456"}, dev_targets(tmp_path), target="mock"
    )
    assert settings.token == "tok_mock_123456"
    assert settings.api_key is None


# -- targets file errors ----------------------------------------------------------------------


def test_missing_targets_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    error = settings_error(lambda: resolve(no_flags(), {}, path, target="dev"))
    assert str(path) in str(error)
    assert "--targets-file" in error.todo


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = targets_file(tmp_path, "targets:\n  dev: [unclosed\n  mock: {}\n")
    error = settings_error(lambda: load_targets(path))
    assert str(path) in str(error)
    assert "not valid YAML at line" in str(error)


@pytest.mark.parametrize(
    "text",
    ["", "just text\n", "targets: []\n", "targets: {}\n", "other:\n  dev: {}\n"],
    ids=["empty", "scalar", "list", "empty-mapping", "wrong-key"],
)
def test_targets_file_without_a_targets_mapping(tmp_path: Path, text: str) -> None:
    path = targets_file(tmp_path, text)
    error = settings_error(lambda: load_targets(path))
    assert str(path) in str(error)
    assert "'targets'" in str(error)


def test_target_entry_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = targets_file(tmp_path, "targets:\n  dev: https://app.masivo.ai\n")
    error = settings_error(lambda: load_targets(path))
    assert str(path) in str(error)
    assert "'dev'" in str(error)


def test_unknown_keys_in_a_target_are_refused(tmp_path: Path) -> None:
    path = targets_file(tmp_path, "targets:\n  dev:\n    base_url: http://x\n    api_key: k\n")
    error = settings_error(lambda: load_targets(path))
    assert str(path) in str(error)
    assert "'api_key'" in str(error)
    assert "api_key_env" in error.todo  # the fix: name a variable, never write the key


def test_allow_writes_must_be_a_boolean(tmp_path: Path) -> None:
    path = targets_file(
        tmp_path, "targets:\n  dev:\n    base_url: http://x\n    allow_writes: 'yes'\n"
    )
    error = settings_error(lambda: load_targets(path))
    assert str(path) in str(error)
    assert "allow_writes" in str(error)


def test_unknown_target_name_lists_the_known_ones(tmp_path: Path) -> None:
    path = dev_targets(tmp_path)
    error = settings_error(lambda: resolve(no_flags(), {}, path, target="prod"))
    assert str(path) in str(error)
    assert "'prod'" in str(error)
    assert "dev" in error.todo
    assert "mock" in error.todo


def test_unset_key_variable_names_the_variable_and_the_file(tmp_path: Path) -> None:
    path = dev_targets(tmp_path)
    error = settings_error(lambda: resolve(no_flags(), {}, path, target="dev"))
    assert "MASIVO_DEV_KEY" in str(error)
    assert "export MASIVO_DEV_KEY" in error.todo
    assert str(path) in str(error), "the reader must learn which file names the variable"


# -- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["ftp://app.masivo.ai/v1", "app.masivo.ai/api", "file:///etc/passwd", "https://"]
)
def test_non_http_base_url_is_refused(url: str) -> None:
    error = settings_error(lambda: resolve(no_flags(base_url=url, api_key=FLAG_KEY), {}))
    assert "http(s)" in str(error)


def test_remote_base_url_without_credentials_is_refused() -> None:
    error = settings_error(lambda: resolve(no_flags(base_url=DEV_URL), {}))
    assert "MASIVO_API_KEY" in error.todo


def test_max_requests_must_be_positive() -> None:
    settings_error(lambda: resolve(no_flags(max_requests=0), {}))
    assert resolve(no_flags(max_requests=1), {}).max_requests == 1


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000/api", True),
        ("http://127.0.0.2", True),
        ("http://[::1]:8000", True),
        ("http://localhost:9000", True),
        ("https://app.masivo.ai/api/storefront/v1", False),
        ("http://localhost.example.com", False),
        ("http://10.0.0.5", False),
        ("http://[2001:db8::1]", False),
    ],
)
def test_is_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_writes_need_allow_writes_only_off_loopback() -> None:
    assert not Settings(base_url=DEV_URL, api_key=FLAG_KEY).writes_allowed
    assert Settings(base_url=DEV_URL, api_key=FLAG_KEY, allow_writes=True).writes_allowed
    assert Settings(base_url="http://[::1]:8000", api_key=FLAG_KEY).writes_allowed


def test_redacted_settings_never_show_the_key_or_token() -> None:
    settings = Settings(
        base_url=DEV_URL, api_key=FLAG_KEY, token="tok_secret_9876543", brand_id="b"
    )
    shown = settings.redacted()
    assert FLAG_KEY not in repr(shown)
    assert "tok_secret_9876543" not in repr(shown)
    assert shown["api_key"] == "set"
    assert shown["token"] == "set"
    assert Settings().redacted()["api_key"] == "not set"


def test_key_given_by_flag_or_environment_makes_the_file_variable_unneeded(
    tmp_path: Path,
) -> None:
    # Flags and environment outrank the file, so the file's unset variable is not needed.
    path = dev_targets(tmp_path)
    by_flag = resolve(no_flags(api_key=FLAG_KEY), {}, path, target="dev")
    by_env = resolve(no_flags(), {"MASIVO_API_KEY": ENV_KEY}, path, target="dev")
    assert (by_flag.api_key, by_env.api_key) == (FLAG_KEY, ENV_KEY)
    assert by_flag.base_url == by_env.base_url == DEV_URL


@pytest.mark.parametrize(
    ("key", "value"),
    [("base_url", "8125"), ("brand_id", "12"), ("api_key_env", "[A, B]"), ("token_env", "true")],
)
def test_string_keys_of_a_target_must_be_strings(tmp_path: Path, key: str, value: str) -> None:
    path = targets_file(tmp_path, f"targets:\n  dev:\n    {key}: {value}\n")
    error = settings_error(lambda: resolve(no_flags(), {}, path, target="dev"))
    assert str(path) in str(error)
    assert "'dev'" in str(error)
    assert f"{key} must be a string" in str(error)


@pytest.mark.parametrize("timeout", [0, -1, float("nan")])
def test_timeout_must_be_more_than_zero(timeout: float) -> None:
    error = settings_error(lambda: resolve(no_flags(timeout=timeout), {}))
    assert "--timeout" in str(error)
    assert resolve(no_flags(timeout=0.5), {}).timeout == 0.5


def test_targets_file_without_a_target_names_the_targets(tmp_path: Path) -> None:
    path = dev_targets(tmp_path)
    error = settings_error(lambda: resolve(no_flags(), {}, path))
    assert "--targets-file needs --target NAME" in str(error)
    assert str(path) in str(error)
    assert "dev, mock" in str(error)


def test_the_cli_and_the_plugin_declare_the_same_target_options() -> None:
    """One definition: the CLI's flags and the plugin's `--masivo-*` options."""
    cli, plugin = argparse.ArgumentParser(), argparse.ArgumentParser()
    add_target_options(cli.add_argument)
    add_target_options(plugin.add_argument, prefix="--masivo-")
    flags = cli.parse_args(["--base-url", "http://h", "--settle-time", "2", "--allow-writes"])
    options = plugin.parse_args(
        ["--masivo-base-url", "http://h", "--masivo-settle-time", "2", "--masivo-allow-writes"]
    )
    assert {f: getattr(flags, f) for f in TARGET_FLAGS} == {
        f: getattr(options, "masivo_" + f) for f in TARGET_FLAGS
    }
    assert flags.settle_time == 2.0
    assert flags.timeout is None  # unset flags stay None: resolve() applies the defaults


# -- where a credential may go ----------------------------------------------------------------

PASSWORD = "pw-s3cret-4471"


@pytest.mark.parametrize(
    "url",
    [
        f"https://ana:{PASSWORD}@app.masivo.ai/api/storefront/v1",
        f"http://ana:{PASSWORD}@127.0.0.1:8000",
        f"https://{PASSWORD}@app.masivo.ai/v1",  # a token as the user name
        f"ftp://ana:{PASSWORD}@app.masivo.ai/v1",  # refused for the password first
        f"ana:{PASSWORD}@app.masivo.ai/v1",  # no scheme: urlsplit sees no userinfo
        f"https://ana:{PASSWORD[:4]}/{PASSWORD[4:]}@app.masivo.ai/v1",  # a '/' in it
    ],
    ids=["https", "loopback", "user-only", "not-http", "no-scheme", "slash-in-password"],
)
@pytest.mark.parametrize("source", ["flag", "environment"])
def test_a_base_url_with_a_user_or_password_is_refused_without_echoing_it(
    url: str, source: str
) -> None:
    flags = no_flags(base_url=url, api_key=FLAG_KEY) if source == "flag" else no_flags()
    env = {"MASIVO_BASE_URL": url, "MASIVO_API_KEY": ENV_KEY} if source == "environment" else {}
    error = settings_error(lambda: resolve(flags, env))
    assert "user name and password" in str(error)
    assert "MASIVO_API_KEY" in error.todo
    assert PASSWORD not in str(error)
    assert PASSWORD[:4] not in str(error)
    assert error.exit_code == 2


def test_a_targets_file_base_url_with_a_password_is_refused_without_echoing_it(
    tmp_path: Path,
) -> None:
    path = targets_file(
        tmp_path,
        f"targets:\n  dev:\n    base_url: https://ana:{PASSWORD}@app.masivo.ai/v1\n"
        "    api_key_env: MASIVO_DEV_KEY\n",
    )
    error = settings_error(
        lambda: resolve(no_flags(), {"MASIVO_DEV_KEY": FILE_KEY}, path, target="dev")
    )
    assert "user name and password" in str(error)
    assert str(path) in str(error)
    assert PASSWORD not in str(error)


def test_a_base_url_with_a_bad_port_is_one_settings_error() -> None:
    # httpx would otherwise raise InvalidURL from deep inside the first request.
    error = settings_error(
        lambda: resolve(no_flags(base_url="http://127.0.0.1:port/v1", api_key=FLAG_KEY), {})
    )
    assert "port" in str(error)


@pytest.mark.parametrize(
    ("key", "variable"),
    [
        ("api_key_env", "GITHUB_TOKEN"),
        ("api_key_env", "AWS_SECRET_ACCESS_KEY"),
        ("api_key_env", "masivo_dev_key"),  # the rule is exact: MASIVO_ in capitals
        ("api_key_env", "MASIVO_"),
        ("api_key_env", "MY_MASIVO_KEY"),
        ("token_env", "ACTIONS_RUNTIME_TOKEN"),
        ("token_env", "NPM_TOKEN"),
    ],
)
def test_a_target_may_name_only_masivo_variables_for_credentials(
    tmp_path: Path, key: str, variable: str
) -> None:
    path = targets_file(
        tmp_path, f"targets:\n  dev:\n    base_url: {DEV_URL}\n    {key}: {variable}\n"
    )
    # The variable is set: refusing it must not depend on its being empty.
    env = {variable: "someone-elses-secret-123"}
    error = settings_error(lambda: resolve(no_flags(), env, path, target="dev"))
    assert f"{key} {variable!r} is not a MASIVO_* variable" in str(error)
    assert str(path) in str(error)
    assert "someone-elses-secret-123" not in str(error)


def test_a_masivo_variable_is_accepted_for_either_credential(tmp_path: Path) -> None:
    path = targets_file(
        tmp_path,
        f"targets:\n  dev:\n    base_url: {DEV_URL}\n    api_key_env: MASIVO_DEV_KEY_2\n"
        "    token_env: MASIVO_DEV_TOKEN\n",
    )
    env = {"MASIVO_DEV_KEY_2": FILE_KEY, "MASIVO_DEV_TOKEN": "tok_file_123456"}
    settings = resolve(no_flags(), env, path, target="dev")
    assert (settings.api_key, settings.token) == (FILE_KEY, "tok_file_123456")


def test_a_target_that_names_a_credential_must_declare_its_base_url(tmp_path: Path) -> None:
    path = targets_file(tmp_path, "targets:\n  dev:\n    api_key_env: MASIVO_DEV_KEY\n")
    error = settings_error(
        lambda: resolve(
            no_flags(base_url="https://elsewhere.example/v1"),
            {"MASIVO_DEV_KEY": FILE_KEY},
            path,
            target="dev",
        )
    )
    assert "no base_url" in str(error)
    assert "base_url" in error.todo


@pytest.mark.parametrize("source", ["--base-url", "MASIVO_BASE_URL"])
def test_a_file_key_is_not_sent_to_a_base_url_given_elsewhere(tmp_path: Path, source: str) -> None:
    elsewhere = "https://collector.example/v1"
    env = {"MASIVO_DEV_KEY": FILE_KEY}
    flags = no_flags()
    if source == "--base-url":
        flags = no_flags(base_url=elsewhere)
    else:
        env["MASIVO_BASE_URL"] = elsewhere
    error = settings_error(lambda: resolve(flags, env, dev_targets(tmp_path), target="dev"))
    assert f"not for the base URL given by {source}" in str(error)
    assert "'dev'" in str(error)
    assert "MASIVO_API_KEY" in error.todo
    assert FILE_KEY not in str(error)


def test_a_file_token_is_held_to_its_base_url_too(tmp_path: Path) -> None:
    env = {"MASIVO_MOCK_TOKEN": "tok_mock_123456"}
    flags = no_flags(base_url="https://collector.example/v1")
    error = settings_error(lambda: resolve(flags, env, dev_targets(tmp_path), target="mock"))
    assert "the token it names" in str(error)


def test_a_file_key_goes_to_its_own_base_url_however_it_is_spelt(tmp_path: Path) -> None:
    # The entry writes DEV_URL with a trailing slash; naming the same URL is no override.
    env = {"MASIVO_DEV_KEY": FILE_KEY, "MASIVO_BASE_URL": DEV_URL}
    settings = resolve(no_flags(), env, dev_targets(tmp_path), target="dev")
    assert (settings.base_url, settings.api_key) == (DEV_URL, FILE_KEY)


def test_a_key_given_with_the_other_base_url_may_go_there(tmp_path: Path) -> None:
    # The user's own key for the URL they name: the file's variable is not used at all.
    elsewhere = "https://other.example/v1"
    env = {"MASIVO_DEV_KEY": FILE_KEY, "MASIVO_API_KEY": ENV_KEY}
    settings = resolve(no_flags(base_url=elsewhere), env, dev_targets(tmp_path), target="dev")
    assert (settings.base_url, settings.api_key) == (elsewhere, ENV_KEY)


def test_only_the_chosen_target_entry_is_checked(tmp_path: Path) -> None:
    """A typo in another entry neither refuses the run nor takes the blame."""
    path = tmp_path / "targets.yaml"
    path.write_text(
        "targets:\n"
        "  dev:\n    base_url: http://127.0.0.1:9/api/storefront/v1\n    brand_id: b\n"
        "  staging:\n    base_ur1: https://staging.example/api/storefront/v1\n"
    )
    chosen = resolve({}, env={"MASIVO_API_KEY": "k"}, targets_file=path, target="dev")
    assert chosen.base_url == "http://127.0.0.1:9/api/storefront/v1"
    missing = settings_error(lambda: resolve({}, env={}, targets_file=path, target="prod"))
    assert "target 'prod' is not in" in str(missing)
    assert "staging" not in str(missing).split("use one of")[0]
    typo = settings_error(lambda: resolve({}, env={}, targets_file=path, target="staging"))
    assert "target 'staging'" in str(typo)
    assert "unknown keys ['base_ur1']" in str(typo)
