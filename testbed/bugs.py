"""Injectable leak bugs of the testbed cloud, and the testbed's error tree.

    TestbedError            root of everything the testbed raises on purpose
    ├── UnknownBugError     a bug name that is not in ``BUGS``
    ├── UnknownPathError    an integration path that is not in ``testbed.cloud.PATHS``
    └── UnknownTenantError  a tenant name the cloud does not have

Each bug reproduces one public incident. Deploying it is the "cache update" (or server
update) that introduced the incident; the path it names is the only one affected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class TestbedError(Exception):
    """Root of the testbed's errors."""

    __test__ = False  # not a pytest test class, whatever its name says


class UnknownBugError(TestbedError, LookupError):
    """The bug name is not registered; the message lists the valid ones."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown bug {name!r}; valid bugs: {', '.join(sorted(BUGS))}")
        self.name = name


class UnknownPathError(TestbedError, LookupError):
    """The integration path is not one the testbed serves."""


class UnknownTenantError(TestbedError, LookupError):
    """The tenant name is not one of the cloud's tenants."""


@dataclass(frozen=True)
class Bug:
    name: str
    path: str | None
    """The integration path that misbehaves once the bug is deployed (None: no bug)."""
    incident: str
    description: str
    symptom: Literal["leak", "stale", "none"] = "leak"
    """What a monitor must see on ``path``: other tenants' frames (``leak``), the
    tenant's own frames from long ago (``stale``), or nothing at all (``none``)."""


BUGS: dict[str, Bug] = {
    "xiaomi-2020": Bug(
        name="xiaomi-2020",
        path="hub",
        incident="Xiaomi cameras on Google Nest Hub, January 2020",
        description=(
            "After a cache update meant to improve streaming quality, the smart-display "
            "path's quality cache keys low-tier stills by tier instead of by camera, so "
            "clients on a slow network (Client Hints ECT 3g or worse, RTT >= 270 ms or "
            "Downlink < 0.7 Mbit/s) get whichever tenant's still was cached last. Fast "
            "clients and the vendor app are unaffected."
        ),
    ),
    "wyze-2024": Bug(
        name="wyze-2024",
        path="events",
        incident="Wyze event thumbnails shown to other users after an outage, February 2024",
        description=(
            "The event-thumbnail cache is overloaded by a reconnect storm: once requests "
            "from several tenants arrive within a fraction of a second (every client "
            "reconnecting at once after an outage), it keys thumbnails by event slot "
            "instead of by camera for a few seconds, so tenants get whichever tenant's "
            "thumbnail of that slot was cached first. Calm traffic and other paths are "
            "unaffected."
        ),
    ),
    "stale-cache": Bug(
        name="stale-cache",
        path="app",
        incident="a snapshot cache replaying old frames (the class camcanary's own_stale names)",
        description=(
            "After a cache update, the vendor app's snapshot endpoint serves each camera "
            "from the cold archive: every tenant gets its own camera, but as it was three "
            "hours ago, replayed in real time. No frame leaks across tenants; the monitor "
            "must read the frames' time codes and report own_stale, not own and not a leak."
        ),
        symptom="stale",
    ),
    "eufy-2021": Bug(
        name="eufy-2021",
        path="hls",
        incident="Eufy cameras: 712 users saw other accounts' live feeds, May 2021",
        description=(
            "After a server update, the live-session table mistakes every new HLS "
            "session that starts within 5 s of the previous one on the path for that "
            "client reconnecting, and attaches it to the previous session's camera "
            "stream, whichever tenant's it was. Tokens are still checked; only the "
            "stream is wrong. Sessions of a calm path (more than 5 s apart), MJPEG, "
            "RTSP and the other paths are unaffected."
        ),
    ),
    "clean": Bug(
        name="clean",
        path=None,
        incident="none: the control drill",
        description=(
            "No bug: deploying it changes nothing. A drill with it proves the monitor "
            "raises no leak on a healthy cloud, under every path and network profile."
        ),
        symptom="none",
    ),
}


def get_bug(name: str) -> Bug:
    """The registered bug called ``name``; raises `UnknownBugError` otherwise."""
    try:
        return BUGS[name]
    except KeyError:
        raise UnknownBugError(name) from None
