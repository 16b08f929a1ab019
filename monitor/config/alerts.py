"""Alerting: notifiers, Slack, and the evidence vault's key."""

from __future__ import annotations

import base64
import os
from typing import Any, Final

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from monitor.config.base import Model
from monitor.config.secrets import environ_of, secrets_from_environ

# The registry's names (``alerts.NOTIFIERS``), owned here as for every registry;
# tests/monitor/test_config_registries.py keeps them equal.
NOTIFIER_KINDS: Final = ("console",)

SLACK_ENVIRON = (
    "SLACK_BOT_TOKEN",
    "SLACK_BOT_TOKEN_FILE",
    "SLACK_SIGNING_SECRET",
    "SLACK_SIGNING_SECRET_FILE",
    "CAMCANARY_SLACK_CHANNEL",
    "CAMCANARY_SLACK_API_URL",
    "CAMCANARY_EVIDENCE_KEY",
    "CAMCANARY_EVIDENCE_KEY_FILE",
)


class NotifierConfig(Model):
    kind: str = "console"

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in NOTIFIER_KINDS:
            raise ValueError(f"unknown alert kind {value!r} (valid: {', '.join(NOTIFIER_KINDS)})")
        return value


class SlackConfig(Model):
    """Slack alerting; on when SLACK_BOT_TOKEN and a channel are set."""

    channel: str | None = None  # or $CAMCANARY_SLACK_CHANNEL
    probe_health_channel: str | None = None  # inconclusive probes; default: channel
    oncall: tuple[str, ...] = Field(default=(), description="Slack user ids who may act")
    web_base_url: str = "http://127.0.0.1:8400"  # the web app's default address
    population: dict[str, int] = Field(default_factory=dict, description="path -> accounts")
    min_interval_s: float = Field(default=1.0, ge=0, description="pace per channel")
    api_url: str | None = None  # or $CAMCANARY_SLACK_API_URL (slack-sdk base_url)
    bot_token: SecretStr | None = None  # $SLACK_BOT_TOKEN only
    signing_secret: SecretStr | None = None  # $SLACK_SIGNING_SECRET only

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        data = secrets_from_environ(
            data,
            info,
            {"bot_token": "SLACK_BOT_TOKEN", "signing_secret": "SLACK_SIGNING_SECRET"},
        )
        if isinstance(data, dict):
            environ = environ_of(info)
            if not data.get("channel") and environ.get("CAMCANARY_SLACK_CHANNEL"):
                data["channel"] = environ["CAMCANARY_SLACK_CHANNEL"]
            if environ.get("CAMCANARY_SLACK_API_URL"):
                data["api_url"] = environ["CAMCANARY_SLACK_API_URL"]
        return data

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None and bool(self.channel)

    @property
    def health_channel(self) -> str:
        return self.probe_health_channel or self.channel or ""


class EvidenceConfig(Model):
    retention_s: float = Field(default=7 * 86400.0, gt=0)
    key: SecretStr | None = None  # $CAMCANARY_EVIDENCE_KEY: 32 bytes, base64

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return secrets_from_environ(data, info, {"key": "CAMCANARY_EVIDENCE_KEY"})

    @field_validator("key")
    @classmethod
    def _aes_256(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                raw = base64.b64decode(value.get_secret_value(), validate=True)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise ValueError("CAMCANARY_EVIDENCE_KEY must be 32 bytes in base64")
        return value

    @property
    def key_bytes(self) -> bytes | None:
        return None if self.key is None else base64.b64decode(self.key.get_secret_value())


def slack_environ() -> dict[str, str]:
    """The Slack and evidence variables of this process, for configs built in code."""
    return {name: os.environ[name] for name in SLACK_ENVIRON if name in os.environ}
