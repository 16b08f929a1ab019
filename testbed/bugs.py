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
    path: str
    """The integration path that misbehaves once the bug is deployed."""
    incident: str
    description: str


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
}


def get_bug(name: str) -> Bug:
    """The registered bug called ``name``; raises `UnknownBugError` otherwise."""
    try:
        return BUGS[name]
    except KeyError:
        raise UnknownBugError(name) from None
