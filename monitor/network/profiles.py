"""Named network profiles: the exact impairments a probe runs under."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.network.toxics import BandwidthToxic, LatencyToxic, Toxic


class UnknownProfileError(ValueError):
    """No profile has this name; the message lists the valid names."""


@dataclass(frozen=True)
class Profile:
    """A named set of toxics, applied in order within each direction."""

    name: str
    description: str
    toxics: tuple[Toxic, ...] = ()


PROFILES: dict[str, Profile] = {
    "good": Profile("good", "Unimpaired: bytes pass straight through."),
    # 400 kbit/s = 50 KB/s each way; 400 ms round trip = 200 ms each way. Bandwidth
    # comes first, then propagation delay, so the bytes in flight stay near
    # rate x latency, as on a real link.
    "3g": Profile(
        "3g",
        "Slow 3G: 400 kbit/s each way, 400 ms round trip, no jitter.",
        (
            BandwidthToxic(stream="upstream", rate=50),
            LatencyToxic(stream="upstream", latency=200, jitter=0),
            BandwidthToxic(stream="downstream", rate=50),
            LatencyToxic(stream="downstream", latency=200, jitter=0),
        ),
    ),
}


def get_profile(name: str) -> Profile:
    """The registered profile called ``name``; UnknownProfileError otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownProfileError(
            f"unknown network profile {name!r}; valid profiles: {sorted(PROFILES)}"
        ) from None
