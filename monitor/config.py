"""Configuration: one YAML file, parsed once into frozen, validated models.

Defaults are declared here and nowhere else. Secrets never sit in the file: a
``*_env`` key names an environment variable, read as ``$NAME`` or, failing that, as
the contents of the file at ``$NAME_FILE`` (Docker/Kubernetes secrets). This module
is the only one that reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _secret(data: Any, key: str, info: ValidationInfo) -> Any:
    """Replace ``<key>_env: NAME`` by ``<key>: <value of $NAME or file $NAME_FILE>``."""
    if not isinstance(data, dict) or f"{key}_env" not in data:
        return data
    data = dict(data)
    name = data.pop(f"{key}_env")
    environ: Mapping[str, str] = (info.context or {}).get("environ", os.environ)
    if name in environ:
        data[key] = environ[name]
    elif f"{name}_FILE" in environ:
        path = Path(environ[f"{name}_FILE"])
        try:
            data[key] = path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"{key}_env: cannot read {name}_FILE={path}: {exc.strerror}") from exc
    else:
        raise ValueError(f"{key}_env: environment variable {name} (or {name}_FILE) is not set")
    return data


class DeploymentConfig(Model):
    """The deployment secret keys every canary codeword."""

    secret: SecretStr

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return _secret(data, "secret", info)

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("the deployment secret must be at least 8 characters")
        return value


class CanaryConfig(Model):
    """One canary camera, registered to its own tenant account."""

    name: str = Field(pattern=NAME_PATTERN)
    camera_id: str = Field(min_length=1, max_length=200)
    token: SecretStr

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return _secret(data, "token", info)


class PathConfig(Model):
    """One integration path: how a customer's client asks for a camera's picture."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: str
    url: str = Field(description="URL template; {camera_id} and {canary} are filled in")
    on_leak: Literal["alert", "trip"] = "alert"
    network_hints: bool = Field(
        default=True,
        description="send the client's measured network quality as Client Hints "
        "(ECT, RTT, Downlink), as Chromium-based smart displays do",
    )
    max_bytes: int = Field(default=20_000_000, gt=0)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from monitor.paths import PATH_KINDS

        if value not in PATH_KINDS:
            raise ValueError(f"unknown path kind {value!r} (valid: {', '.join(PATH_KINDS)})")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {value!r}")
        return value


class ScheduleConfig(Model):
    interval_s: float = Field(default=30.0, gt=0)
    jitter_s: float = Field(default=5.0, ge=0)
    concurrency: int = Field(default=4, ge=1, le=256)


class ProbeConfig(Model):
    deadline_s: float = Field(default=20.0, gt=0)
    stale_after_s: float = Field(default=60.0, gt=0)


class StoreConfig(Model):
    url: str = "sqlite:///camcanary.db"


class NotifierConfig(Model):
    kind: str = "console"

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from alerts import NOTIFIERS

        if value not in NOTIFIERS:
            raise ValueError(f"unknown alert kind {value!r} (valid: {', '.join(NOTIFIERS)})")
        return value


class KillSwitchConfig(Model):
    kind: Literal["record", "webhook"] = "record"
    url: str | None = None
    secret: SecretStr | None = None
    timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return _secret(data, "secret", info)

    @model_validator(mode="after")
    def _webhook_needs_target(self) -> KillSwitchConfig:
        if self.kind == "webhook" and (self.url is None or self.secret is None):
            raise ValueError("a webhook kill switch needs url and secret_env")
        return self


class Config(Model):
    deployment: DeploymentConfig
    canaries: tuple[CanaryConfig, ...]
    paths: tuple[PathConfig, ...]
    profiles: tuple[str, ...] = ("good", "3g")
    schedule: ScheduleConfig = ScheduleConfig()
    probe: ProbeConfig = ProbeConfig()
    store: StoreConfig = StoreConfig()
    alerts: tuple[NotifierConfig, ...] = (NotifierConfig(),)
    killswitch: KillSwitchConfig = KillSwitchConfig()

    @field_validator("profiles")
    @classmethod
    def _known_profiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from monitor.network import PROFILES

        unknown = [name for name in value if name not in PROFILES]
        if unknown:
            raise ValueError(
                f"unknown network profile {unknown[0]!r} (valid: {', '.join(PROFILES)})"
            )
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        for label, items in (("canaries", self.canaries), ("paths", self.paths)):
            if not items:
                raise ValueError(f"at least one entry is needed under {label}")
        for label, names in (
            ("canary", [c.name for c in self.canaries]),
            ("path", [p.name for p in self.paths]),
            ("profile", list(self.profiles)),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {label} name {dupes[0]!r}")
        return self


def parse_config(
    data: Any, *, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> Config:
    """Validate already-loaded data; raises ConfigError with one line per problem."""
    context = {"environ": os.environ if environ is None else environ}
    try:
        return Config.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(_describe(source, exc)) from exc


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return parse_config(data, source=str(path), environ=environ)


def _describe(source: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{source}: {where}: {message}")
    return "\n".join(lines)
