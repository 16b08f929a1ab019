"""Kill switch policy and backend settings are validated at config load."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.config import parse_config
from monitor.errors import ConfigError


def config(path: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "deployment": {"secret": "config kill switch secret"},
        "canaries": [{"name": "lobby", "camera_id": "cam-lobby", "token": "t"}],
        "paths": [
            {
                "name": "hub",
                "kind": "snapshot",
                "url": "http://cloud.test/{camera_id}",
                **(path or {}),
            }
        ],
        **extra,
    }


def test_defaults_trip_on_every_leak_verdict_for_real_after_three_clean_rounds() -> None:
    parsed = parse_config(config({"on_leak": "trip"}), environ={})

    [hub] = parsed.paths
    assert hub.trip_on == ("foreign_canary", "foreign", "spliced")
    assert hub.dry_run is False
    assert parsed.killswitch.kind == "record"
    assert parsed.killswitch.clean_rounds == 3
    assert (parsed.web.host, parsed.web.port) == ("127.0.0.1", 8400)


def test_the_older_on_leak_only_configuration_still_loads() -> None:
    assert parse_config(config({"on_leak": "alert"}), environ={}).paths[0].on_leak == "alert"


def test_trip_on_accepts_only_leak_verdicts() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config({"trip_on": ["foreign", "own_stale"]}), environ={})

    assert str(caught.value) == (
        "<config>: paths.0.trip_on: trip_on: 'own_stale' is not a leak verdict "
        "(valid: foreign_canary, foreign, spliced)"
    )


def test_unleash_needs_its_url_and_admin_token_from_the_environment() -> None:
    with pytest.raises(ConfigError, match="an unleash kill switch needs url and secret_env"):
        parse_config(config(killswitch={"kind": "unleash"}), environ={})

    parsed = parse_config(
        config(
            killswitch={
                "kind": "unleash",
                "url": "http://unleash.test",
                "secret_env": "UNLEASH_ADMIN_TOKEN",
                "unleash_features": {"hub": "hub-stills"},
            }
        ),
        environ={"UNLEASH_ADMIN_TOKEN": "*:*.token"},
    )
    assert parsed.killswitch.secret is not None
    assert parsed.killswitch.secret.get_secret_value() == "*:*.token"


def test_an_unknown_backend_lists_the_valid_kinds() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config(killswitch={"kind": "launchdarkly"}), environ={})

    assert "'builtin', 'record', 'webhook' or 'unleash'" in str(caught.value)
