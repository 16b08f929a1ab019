"""Integration paths: one option model per kind, a discriminated union on ``kind``.

Every kind has the fields of `PathConfig`; each adds only what its adapter reads
(``monitor/paths/<kind>.py``), so a key that means nothing for a kind is refused at
load (``paths.1: a snapshot path has no option 'login'``). The abstract levels group
fields that several kinds read through shared code (``monitor/paths/streams.py``):

    PathConfig            name kind url on_leak trip_on dry_run read_timeout_s
    ├── SnapshotOptions      + max_bytes network_hints
    ├── BrowserOptions       + max_bytes selector login chromium
    └── StreamOptions        + frames allowed_hosts max_redirects  (URLs a server picks)
        ├── RtspOptions
        └── HttpStreamOptions   + max_bytes
            ├── MjpegOptions
            └── IndexOptions       + max_playlist_bytes  (playlist, event list, answer)
                ├── ThumbnailsOptions
                └── PlaylistOptions   + max_segments  (kinds that may play HLS)
                    ├── HlsOptions
                    ├── GoogleHomeOptions   (the returned stream: HLS, MP4, MJPEG, RTSP)
                    └── AlexaOptions

`PATH_OPTIONS` is the kind -> model registry; its keys are ``monitor.paths.PATH_KINDS``'
keys in the same order (tests/monitor/test_config_registries.py). ``PathConfig(...)``
and ``PathConfig.model_validate(...)`` build the model of the given ``kind``, as
``pathlib.Path()`` builds a PosixPath, so code and tests can write any path's config
without naming its model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from monitor.config.base import NAME_PATTERN, Model
from monitor.verdict import Verdict


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
    read_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="a read (or a browser wait) silent this long fails"
    )

    def __new__(cls, *args: Any, **data: Any) -> PathConfig:
        kind = data.get("kind")
        if cls is PathConfig and isinstance(kind, str):
            cls = PATH_OPTIONS.get(kind, cls)
        return super().__new__(cls)

    @model_validator(mode="wrap")
    @classmethod
    def _as_its_kind(cls, data: Any, handler: ModelWrapValidatorHandler[PathConfig]) -> PathConfig:
        if cls is PathConfig and isinstance(data, Mapping) and data.get("kind") in PATH_OPTIONS:
            return PATH_OPTIONS[data["kind"]].model_validate(data)
        return handler(data)

    @model_serializer(mode="wrap")
    def _names_its_kind(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A dump reloads as the same kind, even with exclude_defaults (kind is a default).
        data = handler(self)
        if isinstance(data, dict):
            data.setdefault("kind", self.kind)
        return data

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in PATH_OPTIONS:
            raise ValueError(f"unknown path kind {value!r} (valid: {', '.join(PATH_OPTIONS)})")
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
        leaks = [str(v) for v in Verdict if v.is_leak]
        for name in value:
            if name not in leaks:
                raise ValueError(
                    f"trip_on: {name!r} is not a leak verdict (valid: {', '.join(leaks)})"
                )
        return value


def _max_bytes() -> Any:
    return Field(default=20_000_000, gt=0)


class SnapshotOptions(PathConfig):
    kind: Literal["snapshot"] = "snapshot"
    max_bytes: int = _max_bytes()
    network_hints: bool = Field(
        default=True,
        description="send the client's measured network quality as Client Hints "
        "(ECT, RTT, Downlink), as Chromium-based smart displays do",
    )


class BrowserOptions(PathConfig):
    """Playwright + Chromium; ``max_bytes`` bounds what the page receives."""

    kind: Literal["browser"] = "browser"
    max_bytes: int = _max_bytes()
    selector: str = Field(
        default="video, canvas, img", description="the element whose pixels are the frame"
    )
    login: tuple[LoginStep, ...] = Field(default=(), description="steps after opening url")
    chromium: str | None = Field(default=None, description="Chromium executable to use")


class StreamOptions(PathConfig):
    """Kinds that decode frames from URLs a server may choose (redirects, stream URLs)."""

    frames: int = Field(default=1, ge=1, le=50, description="decode the first N frames")
    allowed_hosts: tuple[str, ...] = Field(
        default=(),
        description="hosts a stream URL, segment or redirect may point at; "
        "empty: only the host of url itself",
    )
    max_redirects: int = Field(default=3, ge=0, le=10)


class RtspOptions(StreamOptions):
    kind: Literal["rtsp"] = "rtsp"


class HttpStreamOptions(StreamOptions):
    max_bytes: int = _max_bytes()


class MjpegOptions(HttpStreamOptions):
    kind: Literal["mjpeg"] = "mjpeg"


class IndexOptions(HttpStreamOptions):
    """Kinds that first read a bounded document: a playlist, event list or JSON answer."""

    max_playlist_bytes: int = Field(default=256_000, gt=0, le=10_000_000)


class ThumbnailsOptions(IndexOptions):
    kind: Literal["thumbnails"] = "thumbnails"


class PlaylistOptions(IndexOptions):
    """Kinds that may play HLS: ``hls``, and the streams Google Home and Alexa return."""

    max_segments: int = Field(default=2, ge=1, le=10, description="HLS segments per probe")


class HlsOptions(PlaylistOptions):
    kind: Literal["hls"] = "hls"


class GoogleHomeOptions(PlaylistOptions):
    kind: Literal["google_home"] = "google_home"


class AlexaOptions(PlaylistOptions):
    kind: Literal["alexa"] = "alexa"


PATH_OPTIONS: dict[str, type[PathConfig]] = {
    "snapshot": SnapshotOptions,
    "mjpeg": MjpegOptions,
    "hls": HlsOptions,
    "rtsp": RtspOptions,
    "browser": BrowserOptions,
    "google_home": GoogleHomeOptions,
    "alexa": AlexaOptions,
    "thumbnails": ThumbnailsOptions,
}

# What Config.paths holds; the same members as PATH_OPTIONS (checked by the registry test).
AnyPath = Annotated[
    SnapshotOptions
    | MjpegOptions
    | HlsOptions
    | RtspOptions
    | BrowserOptions
    | GoogleHomeOptions
    | AlexaOptions
    | ThumbnailsOptions,
    Field(discriminator="kind"),
]
