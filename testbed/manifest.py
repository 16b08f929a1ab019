"""Where the testbed serves each integration path: the map drills build their matrix from.

One entry per path the testbed serves, keyed by the path's name (the same name as its
kill switch in `testbed.cloud.PATHS` and its bug's ``Bug.path``):

- ``kind``: the monitor path kind that reads it (a key of ``monitor.paths.PATH_KINDS``;
  a string, because the testbed does not import the monitor);
- ``url``: the URL template, relative to the testbed's base URL when it starts with
  ``/``; otherwise it starts with a placeholder of the running testbed, such as
  ``{rtsp_url}/...`` (see below). ``{camera_id}`` and ``{canary}`` stay in the template:
  the monitor fills them per canary;
- ``extra``: further ``PathConfig`` fields for this path.

In ``url`` and in string values of ``extra`` (also inside lists and tuples),
``{base_url}`` and ``{host}`` are replaced by the running testbed's, and so is every
placeholder named in the ``facts`` given to `path_config` (a server on another port,
say ``{"rtsp_url": "rtsp://127.0.0.1:8554"}``).

`path_config` turns an entry into the ``paths:`` item of a monitor configuration.
Helpers adding a path add its entry here, in the same change as its route.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from testbed.server import TestbedServer


@dataclass(frozen=True)
class PathEntry:
    kind: str
    url: str
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.url.startswith(("/", "{")):
            raise ValueError(
                f"a manifest url is relative to the testbed ('/...') or starts with a "
                f"testbed placeholder ('{{base_url}}...'), not {self.url!r}"
            )
        reserved = {"name", "kind", "url"} & set(self.extra)
        if reserved:
            raise ValueError(f"extra must not set {sorted(reserved)}: they are the entry's own")


MANIFEST: dict[str, PathEntry] = {
    "app": PathEntry(
        kind="snapshot",
        url="/app/v1/cameras/{camera_id}/snapshot",
        description="the vendor app's snapshot endpoint",
        extra={"read_timeout_s": 15},  # outlasts outage-recovery's 12 s hold
    ),
    "hub": PathEntry(
        kind="snapshot",
        url="/hub/v1/cameras/{camera_id}/still",
        description="the smart display's still, through the quality cache (Client Hints)",
        extra={"read_timeout_s": 15},
    ),
    "mjpeg": PathEntry(
        kind="mjpeg",
        url="/live/v1/cameras/{camera_id}/mjpeg",
        description="a live multipart/x-mixed-replace MJPEG stream (web viewers, IP cameras)",
    ),
    "hls": PathEntry(
        kind="hls",
        url="/live/v1/cameras/{camera_id}/hls/master.m3u8",
        description="live HLS: master playlist, a live session, H.264 MPEG-TS segments",
    ),
    "rtsp": PathEntry(
        kind="rtsp",
        url="{rtsp_url}/cameras/{camera_id}",
        description="RTSP with H.264 over RTP interleaved on TCP (facts: rtsp_url)",
    ),
    "web": PathEntry(
        kind="browser",
        url="/web/login?next=/web/cameras/{camera_id}",
        description="the web viewer in Chromium: login form, then the live <img>",
        extra={
            "selector": "img#live",
            "login": [{"fill": "#token", "value_from": "token"}, {"click": "#login"}],
            "read_timeout_s": 15,
        },
    ),
    "google": PathEntry(
        kind="google_home",
        url="/google/v1/fulfillment",
        description="Google smart home: EXECUTE GetCameraStream, then the returned stream",
        extra={"read_timeout_s": 15},
    ),
    "alexa": PathEntry(
        kind="alexa",
        url="/alexa/v1/directives",
        description="Alexa CameraStreamController: InitializeCameraStreams, then the HLS uri",
        extra={"read_timeout_s": 15},
    ),
    "events": PathEntry(
        kind="thumbnails",
        url="/events/v1/cameras/{camera_id}/events",
        description="the event list and its newest thumbnails (wyze-2024)",
        # Reads outlast the outage-recovery profile's 12 s hold: a reconnect storm
        # must reach the cloud, not time out in the client.
        extra={"frames": 2, "read_timeout_s": 15},
    ),
}


def path_config(
    name: str, base_url: str, *, facts: Mapping[str, str] | None = None, **overrides: Any
) -> dict[str, Any]:
    """The monitor ``paths:`` item for manifest path ``name`` on the testbed at ``base_url``.

    ``facts`` are further placeholders (name -> value) of the running testbed;
    ``overrides`` set further ``PathConfig`` fields (``on_leak="trip"``) over the entry's.
    Raises KeyError naming the valid paths for an unknown ``name``.
    """
    try:
        entry = MANIFEST[name]
    except KeyError:
        raise KeyError(f"unknown testbed path {name!r}; valid: {', '.join(MANIFEST)}") from None
    base = base_url.rstrip("/")
    known = {"base_url": base, "host": urlsplit(base).hostname or "", **(facts or {})}
    fill = {"{" + key + "}": value for key, value in known.items()}
    url = base + entry.url if entry.url.startswith("/") else _fill(entry.url, fill)
    extra = {key: _fill(value, fill) for key, value in entry.extra.items()}
    return {"name": name, "kind": entry.kind, "url": url, **extra, **overrides}


def path_configs(
    base_url: str,
    names: Iterable[str] | None = None,
    *,
    facts: Mapping[str, str] | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """`path_config` for each of ``names`` (default: every manifest path, in order)."""
    names = MANIFEST if names is None else names
    return [path_config(n, base_url, facts=facts, **overrides) for n in names]


def server_facts(server: TestbedServer) -> dict[str, str]:
    """The placeholders a running testbed server fills beyond ``{base_url}`` and ``{host}``."""
    return {"rtsp_url": server.rtsp_url}


def _fill(value: Any, facts: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, fact in facts.items():
            value = value.replace(placeholder, fact)
        return value
    if isinstance(value, list | tuple):
        return type(value)(_fill(item, facts) for item in value)
    return value
