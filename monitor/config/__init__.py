"""Configuration: one YAML file, parsed once into frozen, validated models.

Defaults are declared here and nowhere else. Secrets never sit in the file: a
``*_env`` key names an environment variable, read as ``$NAME`` or, failing that, as
the contents of the file at ``$NAME_FILE`` (Docker/Kubernetes secrets). This module
is the only one that reads the environment.
"""

from __future__ import annotations

import base64
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


class LoginStep(Model):
    """One step of a browser path's login: fill a field, or click."""

    fill: str | None = Field(default=None, description="CSS selector of a field to fill")
    value_from: Literal["token", "camera_id", "literal"] = "literal"
    value: str = Field(default="", description="with value_from: literal, the text")
    click: str | None = Field(default=None, description="CSS selector to click")

    @model_validator(mode="after")
    def _one_action(self) -> LoginStep:
        if (self.fill is None) == (self.click is None):
            raise ValueError("a login step has exactly one of fill or click")
        return self


class PathConfig(Model):
    """One integration path: how a customer's client asks for a camera's picture."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: str
    url: str = Field(description="URL template; {camera_id} and {canary} are filled in")
    on_leak: Literal["alert", "trip"] = "alert"
    trip_on: tuple[str, ...] = Field(
        default=("foreign_canary", "foreign", "spliced"),
        description="with on_leak: trip, the confirmed leak verdicts that trip the switch",
    )
    dry_run: bool = Field(
        default=False, description="the kill switch only records what it would do"
    )
    network_hints: bool = Field(
        default=True,
        description="send the client's measured network quality as Client Hints "
        "(ECT, RTT, Downlink), as Chromium-based smart displays do",
    )
    max_bytes: int = Field(default=20_000_000, gt=0)
    # Stream paths (mjpeg, hls, rtsp, and stream URLs returned by an integration).
    frames: int = Field(default=1, ge=1, le=50, description="decode the first N frames")
    allowed_hosts: tuple[str, ...] = Field(
        default=(),
        description="hosts a stream URL, segment or redirect may point at; "
        "empty: only the host of url itself",
    )
    max_redirects: int = Field(default=3, ge=0, le=10)
    max_segments: int = Field(default=2, ge=1, le=10, description="HLS segments per probe")
    max_playlist_bytes: int = Field(default=256_000, gt=0, le=10_000_000)
    read_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="a stream silent this long fails"
    )
    # Browser path (Playwright + Chromium).
    selector: str = Field(
        default="video, canvas, img", description="the element whose pixels are the frame"
    )
    login: tuple[LoginStep, ...] = Field(default=(), description="steps after opening url")
    chromium: str | None = Field(default=None, description="Chromium executable to use")

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
        if not value.startswith(("http://", "https://", "rtsp://")):
            raise ValueError(f"url must start with http://, https:// or rtsp://, got {value!r}")
        return value

    @field_validator("trip_on")
    @classmethod
    def _leak_verdicts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from monitor.verdict import Verdict

        leaks = [str(v) for v in Verdict if v.is_leak]
        for name in value:
            if name not in leaks:
                raise ValueError(
                    f"trip_on: {name!r} is not a leak verdict (valid: {', '.join(leaks)})"
                )
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
    # Raw probe rows older than this are deleted hourly (never rows an incident holds);
    # minute rollups are kept for minute_retention_s, coarser rollups for ever.
    raw_retention_s: float = Field(default=30 * 86400.0, gt=0)
    minute_retention_s: float = Field(default=3 * 86400.0, ge=7200)


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
    kind: Literal["builtin", "record", "webhook", "unleash"] = "record"
    url: str | None = None  # webhook target; Unleash base URL
    secret: SecretStr | None = None  # webhook HMAC key; Unleash admin API token
    timeout_s: float = Field(default=5.0, gt=0)
    clean_rounds: int = Field(
        default=3, ge=1, description="clean rounds across a path's profiles to re-arm it"
    )
    unleash_project: str = "default"
    unleash_environment: str = "production"
    unleash_features: dict[str, str] = Field(
        default_factory=dict, description="path name -> Unleash feature name (default: path)"
    )

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return _secret(data, "secret", info)

    @model_validator(mode="after")
    def _webhook_needs_target(self) -> KillSwitchConfig:
        if self.kind in ("webhook", "unleash") and (self.url is None or self.secret is None):
            article = "an" if self.kind == "unleash" else "a"
            raise ValueError(f"{article} {self.kind} kill switch needs url and secret_env")
        return self


class WebConfig(Model):
    """The service's HTTP endpoint: dashboard, API, /metrics, kill switch flags, Slack."""

    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=0, le=65535)
    anonymous_viewer: bool = Field(
        default=False, description="read-only access without login; only on a loopback host"
    )
    secure_cookies: bool = Field(
        default=False, description="mark cookies Secure (behind an HTTPS proxy)"
    )
    metrics_token: SecretStr | None = None  # $CAMCANARY_METRICS_TOKEN: bearer for /metrics

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return _from_environ(data, info, {"metrics_token": "CAMCANARY_METRICS_TOKEN"})

    @model_validator(mode="after")
    def _anonymous_on_loopback(self) -> WebConfig:
        if self.anonymous_viewer and not is_loopback(self.host):
            raise ValueError(
                f"anonymous_viewer is only allowed on a loopback host, not {self.host!r}"
            )
        return self


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def _from_environ(data: Any, info: ValidationInfo, fields: Mapping[str, str]) -> Any:
    """Fill secret ``fields`` (field -> variable) from the environment, never the file."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    environ: Mapping[str, str] = (info.context or {}).get("environ", os.environ)
    for key, name in fields.items():
        if key in data:
            raise ValueError(f"{key} is a secret: set {name} (or {name}_FILE), not the file")
        if environ.get(name):
            data[key] = environ[name]
        elif environ.get(f"{name}_FILE"):
            path = Path(environ[f"{name}_FILE"])
            try:
                data[key] = path.read_text().strip()
            except OSError as exc:
                raise ValueError(f"cannot read {name}_FILE={path}: {exc.strerror}") from exc
    return data


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
        data = _from_environ(
            data,
            info,
            {"bot_token": "SLACK_BOT_TOKEN", "signing_secret": "SLACK_SIGNING_SECRET"},
        )
        if isinstance(data, dict):
            environ: Mapping[str, str] = (info.context or {}).get("environ", os.environ)
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


class IncidentsConfig(Model):
    renotify_s: float = Field(default=900.0, gt=0, description="unacknowledged leak reminder")
    resolve_after_rounds: int = Field(default=3, ge=1, description="clean rounds to resolve")
    warning_window: int = Field(default=20, ge=1, description="the last Y probes of a path")
    warning_threshold: int = Field(default=5, ge=1, description="X of them to warn")
    warning_every_s: float = Field(default=3600.0, gt=0, description="at most one per")

    @model_validator(mode="after")
    def _threshold_in_window(self) -> IncidentsConfig:
        if self.warning_threshold > self.warning_window:
            raise ValueError("warning_threshold cannot exceed warning_window")
        return self


class EvidenceConfig(Model):
    retention_s: float = Field(default=7 * 86400.0, gt=0)
    key: SecretStr | None = None  # $CAMCANARY_EVIDENCE_KEY: 32 bytes, base64

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        return _from_environ(data, info, {"key": "CAMCANARY_EVIDENCE_KEY"})

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


class NetworkConfig(Model):
    """Which impairment backend makes the profiles' routes (monitor.network.BACKENDS)."""

    backend: str = "builtin"
    toxiproxy_url: str = "http://127.0.0.1:8474"

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        from monitor.network import BACKENDS

        if value not in BACKENDS:
            raise ValueError(f"unknown network backend {value!r} (valid: {', '.join(BACKENDS)})")
        return value


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
    slack: SlackConfig = SlackConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    network: NetworkConfig = NetworkConfig()

    @model_validator(mode="before")
    @classmethod
    def _environment_sections(cls, data: Any) -> Any:
        # Validate these sections even when absent, so they read the environment.
        if isinstance(data, dict):
            data = {"slack": {}, "evidence": {}, "web": {}, **data}
        return data

    web: WebConfig = WebConfig()

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
