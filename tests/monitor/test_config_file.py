"""``load_config`` and ``camcanary config check`` on real YAML files."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import (
    PATH_OPTIONS,
    BrowserOptions,
    Config,
    PathConfig,
    RtspOptions,
    load_config,
)
from monitor.errors import ConfigError
from monitor.network import PROFILES
from monitor.paths import PATH_KINDS

REPO = Path(__file__).resolve().parents[2]
# The error messages list the registries' names, in registration order.
KINDS = ", ".join(PATH_KINDS)
PROFILE_NAMES = ", ".join(PROFILES)

GOOD = """\
deployment:
  secret_env: CAMCANARY_SECRET
canaries:
  - name: lobby
    camera_id: cam-lobby
    token_env: LOBBY_TOKEN
  - name: nursery
    camera_id: cam-nursery
    token_env: NURSERY_TOKEN
paths:
  - name: app
    kind: snapshot
    url: "http://127.0.0.1:8080/app/v1/cameras/{camera_id}/snapshot"
  - name: hub
    kind: snapshot
    url: "http://127.0.0.1:8080/hub/v1/cameras/{camera_id}/still"
    on_leak: trip
killswitch:
  kind: webhook
  url: http://127.0.0.1:8080/admin/v1/killswitch
  secret_env: KILLSWITCH_SECRET
"""

ENV = {
    "CAMCANARY_SECRET": "deployment-secret-1",
    "LOBBY_TOKEN": "lobby-token",
    "NURSERY_TOKEN": "nursery-token",
    "KILLSWITCH_SECRET": "switch-secret",
}


def write(tmp_path: Path, text: str, name: str = "camcanary.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_file_loads_into_a_frozen_config_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ=ENV)

    assert isinstance(config, Config)
    assert config.deployment.secret.get_secret_value() == "deployment-secret-1"
    assert [(c.name, c.camera_id) for c in config.canaries] == [
        ("lobby", "cam-lobby"),
        ("nursery", "cam-nursery"),
    ]
    assert [c.token.get_secret_value() for c in config.canaries] == [
        "lobby-token",
        "nursery-token",
    ]
    assert [(p.name, p.kind, p.on_leak) for p in config.paths] == [
        ("app", "snapshot", "alert"),
        ("hub", "snapshot", "trip"),
    ]
    assert config.killswitch.kind == "webhook"
    assert config.killswitch.secret is not None
    assert config.killswitch.secret.get_secret_value() == "switch-secret"
    # Defaults, declared once in monitor/config/.
    assert config.profiles == ("good", "3g")
    assert config.schedule.interval_s == 30.0
    assert config.schedule.jitter_s == 5.0
    assert config.schedule.concurrency == 4
    assert config.probe.deadline_s == 20.0
    assert config.probe.stale_after_s == 60.0
    assert config.store.url == "sqlite:///camcanary.db"
    assert [n.kind for n in config.alerts] == ["console"]
    assert config.paths[0].network_hints is True
    assert config.paths[0].max_bytes == 20_000_000
    assert config.killswitch.timeout_s == 5.0
    # Secrets never show in reprs, and the models are frozen.
    assert "lobby-token" not in repr(config)
    with pytest.raises(pydantic.ValidationError):
        config.schedule.interval_s = 1.0  # type: ignore[misc]


def test_secret_falls_back_to_the_file_named_by_name_file(tmp_path: Path) -> None:
    token_file = write(tmp_path, "token-from-file\n", name="lobby.token")
    environ = {k: v for k, v in ENV.items() if k != "LOBBY_TOKEN"}
    environ["LOBBY_TOKEN_FILE"] = str(token_file)

    config = load_config(write(tmp_path, GOOD), environ=environ)

    assert config.canaries[0].token.get_secret_value() == "token-from-file"


def test_the_variable_itself_wins_over_its_file(tmp_path: Path) -> None:
    environ = {**ENV, "LOBBY_TOKEN_FILE": str(tmp_path / "does-not-exist")}

    config = load_config(write(tmp_path, GOOD), environ=environ)

    assert config.canaries[0].token.get_secret_value() == "lobby-token"


def test_unreadable_secret_file_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    missing = tmp_path / "nope.token"
    environ = {k: v for k, v in ENV.items() if k != "LOBBY_TOKEN"}
    environ["LOBBY_TOKEN_FILE"] = str(missing)

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)

    assert str(caught.value) == (
        f"{path}: canaries.0: token_env: cannot read LOBBY_TOKEN_FILE={missing}: "
        "No such file or directory"
    )


def test_an_env_key_takes_its_variable_even_empty_but_an_empty_slack_token_is_unset(
    tmp_path: Path,
) -> None:
    # Compose files pass ${VAR:-}: a canary's named variable is taken as it is, while an
    # optional secret such as SLACK_BOT_TOKEN left empty means "no Slack".
    environ = {**ENV, "LOBBY_TOKEN": "", "SLACK_BOT_TOKEN": "", "CAMCANARY_SLACK_CHANNEL": "#c"}

    config = load_config(write(tmp_path, GOOD), environ=environ)

    assert config.canaries[0].token.get_secret_value() == ""
    assert config.slack.bot_token is None
    assert not config.slack.enabled


def config_error(path: Path, environ: dict[str, str] = ENV) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    return str(caught.value)


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "colour: blue\n")

    assert config_error(path) == f"{path}: colour: unknown key"


def test_unknown_path_kind_lists_the_valid_kinds(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("kind: snapshot", "kind: telnet", 1))

    assert config_error(path) == (
        f"{path}: paths.0.kind: unknown path kind 'telnet' (valid: {KINDS})"
    )


def test_unknown_profile_lists_the_valid_profiles(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "profiles: [good, 5g]\n")

    assert config_error(path) == (
        f"{path}: profiles: unknown network profile '5g' (valid: {PROFILE_NAMES})"
    )


def test_missing_token_variable_names_the_variable_and_its_file_form(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    environ = {k: v for k, v in ENV.items() if k != "NURSERY_TOKEN"}

    assert config_error(path, environ) == (
        f"{path}: canaries.1: token_env: environment variable NURSERY_TOKEN "
        "(or NURSERY_TOKEN_FILE) is not set"
    )


def test_duplicate_canary_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: nursery", "name: lobby"))

    assert config_error(path) == f"{path}: (top level): duplicate canary name 'lobby'"


def test_webhook_kill_switch_without_url_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  url: http://127.0.0.1:8080/admin/v1/killswitch\n", ""))

    assert config_error(path) == (
        f"{path}: killswitch: a webhook kill switch needs url and secret_env"
    )


def test_several_problems_give_one_line_each(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("kind: snapshot", "kind: telnet") + "colour: blue\n")

    assert config_error(path).splitlines() == [
        f"{path}: paths.0.kind: unknown path kind 'telnet' (valid: {KINDS})",
        f"{path}: paths.1.kind: unknown path kind 'telnet' (valid: {KINDS})",
        f"{path}: colour: unknown key",
    ]


def test_a_list_at_the_top_level_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- deployment\n- canaries\n")

    assert config_error(path) == f"{path}: the top level must be a mapping of keys"


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "")

    assert config_error(path) == f"{path}: the top level must be a mapping of keys"


def test_invalid_yaml_is_refused_with_the_parser_position(tmp_path: Path) -> None:
    path = write(tmp_path, "deployment: [\n")

    assert config_error(path) == (
        f"{path}: not valid YAML: while parsing a flow node\n"
        "expected the node content, but found '<stream end>'\n"
        '  in "<unicode string>", line 2, column 1:\n'
        "    \n"
        "    ^"
    )


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    assert config_error(path) == f"{path}: cannot read: No such file or directory"


# -- camcanary config check -------------------------------------------------------------


def test_config_check_prints_ok_and_the_probe_count(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)

    result = CliRunner().invoke(main, ["config", "check", str(path)], env=ENV)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok (2 canaries, 2 paths, 2 profiles: 8 probes)\n"
    assert result.stderr == ""


def test_config_check_exits_2_with_the_message_on_stderr(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "colour: blue\n")

    result = CliRunner().invoke(main, ["config", "check", str(path)], env=ENV)

    assert result.exit_code == 2
    assert result.stderr == f"{path}: colour: unknown key\n"
    assert result.stdout == ""


def test_config_check_reads_secrets_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    env: dict[str, str | None] = {**ENV, "NURSERY_TOKEN": None}

    result = CliRunner().invoke(main, ["config", "check", str(path)], env=env)

    assert result.exit_code == 2
    assert result.stderr == (
        f"{path}: canaries.1: token_env: environment variable NURSERY_TOKEN "
        "(or NURSERY_TOKEN_FILE) is not set\n"
    )


def test_example_config_in_the_repository_passes_config_check() -> None:
    example = REPO / "examples" / "camcanary.yaml"
    env = {
        "CAMCANARY_SECRET": "example-deployment-secret",
        "CANARY_LOBBY_TOKEN": "lobby-token",
        "CANARY_NURSERY_TOKEN": "nursery-token",
        "CAMCANARY_KILLSWITCH_SECRET": "example-switch-secret",
    }

    result = CliRunner().invoke(main, ["config", "check", str(example)], env=env)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{example}: ok (2 canaries, 2 paths, 2 profiles: 8 probes)\n"


# -- per-kind path options --------------------------------------------------------------


def with_path(extra: str) -> str:
    """GOOD with a third path appended (``extra``: its YAML lines after ``- name: x``)."""
    return GOOD.replace("killswitch:", f"  - name: x\n{extra}killswitch:", 1)


def valid_options(kind: str) -> str:
    return ", ".join(PATH_OPTIONS[kind].model_fields)


@pytest.mark.parametrize(
    ("kind", "url", "option"),
    [
        ("snapshot", "http://cloud.test/s", "login: [{click: '#go'}]"),
        ("snapshot", "http://cloud.test/s", "selector: img"),
        ("snapshot", "http://cloud.test/s", "max_segments: 3"),
        ("rtsp", "rtsp://cloud.test/r", "max_bytes: 1000"),
        ("rtsp", "rtsp://cloud.test/r", "network_hints: false"),
        ("mjpeg", "http://cloud.test/m", "max_playlist_bytes: 1000"),
        ("hls", "http://cloud.test/h.m3u8", "chromium: /usr/bin/chromium"),
        ("browser", "http://cloud.test/b", "frames: 2"),
        ("browser", "http://cloud.test/b", "allowed_hosts: [cdn.test]"),
        ("google_home", "http://cloud.test/g", "network_hints: false"),
        ("alexa", "http://cloud.test/a", "login: []"),
        ("thumbnails", "http://cloud.test/t", "max_segments: 3"),
    ],
)
def test_config_check_refuses_an_option_of_another_kind_naming_the_kind(
    tmp_path: Path, kind: str, url: str, option: str
) -> None:
    path = write(tmp_path, with_path(f"    kind: {kind}\n    url: {url}\n    {option}\n"))
    key = option.split(":")[0]

    result = CliRunner().invoke(main, ["config", "check", str(path)], env=ENV)

    assert result.exit_code == 2
    assert result.stderr == (
        f"{path}: paths.2: {kind} paths have no option {key!r} (valid: {valid_options(kind)})\n"
    )


@pytest.mark.parametrize(
    ("kind", "url", "option"),
    [
        ("snapshot", "http://cloud.test/s", "network_hints: false"),
        ("rtsp", "rtsp://cloud.test/r", "max_redirects: 1"),
        ("mjpeg", "http://cloud.test/m", "max_bytes: 1000"),
        ("hls", "http://cloud.test/h.m3u8", "max_segments: 3"),
        ("browser", "http://cloud.test/b", "login: [{click: '#go'}]"),
        ("google_home", "http://cloud.test/g", "max_segments: 3"),
        ("alexa", "http://cloud.test/a", "allowed_hosts: [cdn.test]"),
        ("thumbnails", "http://cloud.test/t", "max_playlist_bytes: 1000"),
    ],
)
def test_config_check_accepts_the_options_a_kind_reads(
    tmp_path: Path, kind: str, url: str, option: str
) -> None:
    path = write(tmp_path, with_path(f"    kind: {kind}\n    url: {url}\n    {option}\n"))

    result = CliRunner().invoke(main, ["config", "check", str(path)], env=ENV)

    assert result.exit_code == 0, result.output


def test_errors_inside_a_path_are_located_without_the_kind_tag(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        with_path(
            "    kind: browser\n    url: ftp://cloud.test/b\n    login: [{fill: '#t', to: x}]\n"
        ),
    )

    assert config_error(path).splitlines() == [
        f"{path}: paths.2.url: url must start with http://, https:// or rtsp://, "
        "got 'ftp://cloud.test/b'",
        f"{path}: paths.2.login.0.to: unknown key",
    ]


def test_a_path_without_kind_is_refused_as_a_missing_field(tmp_path: Path) -> None:
    path = write(tmp_path, with_path("    url: http://cloud.test/s\n"))

    assert config_error(path) == f"{path}: paths.2.kind: Field required"


def test_path_config_builds_the_option_model_of_its_kind() -> None:
    built = PathConfig(name="live", kind="rtsp", url="rtsp://cloud.test/c", frames=3)
    validated = PathConfig.model_validate(
        {"name": "web", "kind": "browser", "url": "http://cloud.test/", "selector": "img"}
    )

    assert isinstance(built, RtspOptions)
    assert built.frames == 3
    assert isinstance(validated, BrowserOptions)
    assert validated.selector == "img"
    with pytest.raises(pydantic.ValidationError, match="selector"):
        PathConfig(name="live", kind="rtsp", url="rtsp://cloud.test/c", selector="img")


def test_the_paths_documentation_example_passes_config_check(tmp_path: Path) -> None:
    # docs/paths-and-drills.md: the examples' deployment and canaries plus its paths.
    docs = (REPO / "docs" / "paths-and-drills.md").read_text()
    example = docs.split("### Examples", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    head = (REPO / "examples" / "camcanary.yaml").read_text().split("paths:", 1)[0]
    path = write(tmp_path, head + example)
    env = {
        "CAMCANARY_SECRET": "example-deployment-secret",
        "CANARY_LOBBY_TOKEN": "lobby-token",
        "CANARY_NURSERY_TOKEN": "nursery-token",
    }

    result = CliRunner().invoke(main, ["config", "check", str(path)], env=env)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok (2 canaries, 5 paths, 7 profiles: 70 probes)\n"


def test_a_malformed_path_entry_or_kind_reads_as_a_plain_type_error(tmp_path: Path) -> None:
    path = write(tmp_path, with_path("    kind: 5\n    url: http://cloud.test/s\n  - app\n"))

    assert config_error(path).splitlines() == [
        f"{path}: paths.2.kind: Input should be a valid string",
        f"{path}: paths.3: Input should be a valid dictionary or instance of PathConfig",
    ]
