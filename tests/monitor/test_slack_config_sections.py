"""The ``slack:``, ``incidents:`` and ``evidence:`` sections: defaults, secrets from the
environment only, and the service wiring they switch on."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from monitor.config import parse_config
from monitor.errors import ConfigError
from monitor.service import Monitor

KEY = base64.b64encode(bytes(range(32))).decode()


def data(**sections: Any) -> dict[str, Any]:
    return {
        "deployment": {"secret": "config sections secret"},
        "canaries": [{"name": "lobby", "camera_id": "cam-lobby", "token": "t"}],
        "paths": [{"name": "hub", "kind": "snapshot", "url": "http://cloud.test/{camera_id}"}],
        **sections,
    }


def test_defaults_leave_slack_off_and_keep_evidence_seven_days() -> None:
    config = parse_config(data(), environ={})

    assert config.slack.enabled is False
    assert config.incidents.renotify_s == 900
    assert config.incidents.resolve_after_rounds == 3
    assert config.evidence.retention_s == 7 * 86400
    assert config.evidence.key_bytes is None


def test_slack_secrets_channel_and_api_url_come_from_the_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "signing"
    secret_file.write_text("signing-secret\n")
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET_FILE": str(secret_file),
        "CAMCANARY_SLACK_CHANNEL": "C123",
        "CAMCANARY_SLACK_API_URL": "http://127.0.0.1:9/api/",
        "CAMCANARY_EVIDENCE_KEY": KEY,
    }

    config = parse_config(
        data(slack={"oncall": ["U1"], "population": {"hub": 1044}}), environ=environ
    )

    slack = config.slack
    assert slack.enabled
    assert slack.bot_token is not None
    assert slack.bot_token.get_secret_value() == "xoxb-1"
    assert slack.signing_secret is not None
    assert slack.signing_secret.get_secret_value() == "signing-secret"
    assert (slack.channel, slack.health_channel, slack.api_url) == (
        "C123",
        "C123",
        "http://127.0.0.1:9/api/",
    )
    assert config.evidence.key_bytes == bytes(range(32))


@pytest.mark.parametrize(
    ("sections", "environ", "message"),
    [
        (
            {"slack": {"bot_token": "xoxb-in-the-file"}},
            {},
            "slack: bot_token is a secret: set SLACK_BOT_TOKEN",
        ),
        ({}, {"CAMCANARY_EVIDENCE_KEY": "c2hvcnQ="}, "must be 32 bytes in base64"),
        (
            {"incidents": {"warning_window": 3, "warning_threshold": 5}},
            {},
            "warning_threshold cannot exceed warning_window",
        ),
        ({"incidents": {"renotfy_s": 60}}, {}, "incidents.renotfy_s: unknown key"),
    ],
)
def test_bad_alerting_sections_are_refused_with_a_precise_message(
    sections: dict[str, Any], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data(**sections), environ=environ)

    assert message in str(caught.value)


def test_the_service_builds_the_slack_outbox_only_when_slack_is_on(sqlite_url: str) -> None:
    on = parse_config(
        data(store={"url": sqlite_url}),
        environ={"SLACK_BOT_TOKEN": "xoxb-1", "CAMCANARY_SLACK_CHANNEL": "C1"},
    )
    off = parse_config(data(store={"url": sqlite_url}), environ={})

    async def scenario() -> tuple[bool, bool]:
        with_slack, without = Monitor(on), Monitor(off)
        try:
            return with_slack.outbox is not None, without.outbox is not None
        finally:
            await with_slack.stop()
            await without.stop()

    assert asyncio.run(scenario()) == (True, False)
