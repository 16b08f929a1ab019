"""Named network profiles: the exact impairments a probe runs under.

A profile has three parts, each for one kind of route:

- ``toxics``: what the TCP proxy (built-in or Toxiproxy) does to every connection;
- ``outage``: an optional link schedule shared by every route of a pool (the link
  goes down and comes back on a clock, see ``Outage``);
- ``cdp``: what Chromium's own throttling (``Network.emulateNetworkConditions``)
  is given on the browser path.

Rates and round trips of ``3g``, ``slow-4g`` and ``fast-4g`` are Chrome DevTools'
presets (``Slow3GConditions``, ``Slow4GConditions`` -- called "Fast 3G" before
May 2024 -- and ``Fast4GConditions`` in devtools-frontend
``front_end/core/sdk/NetworkManager.ts``). DevTools throttles per *request*, so its
``latency`` is the target RTT times a multiplier (5, 3.75, 2.75) standing for the
several round trips of DNS, TCP and TLS; the proxy throttles per *packet*, so its
toxics carry the target RTT itself (half each way), and every exchange on the
connection (a TLS handshake, each request) pays it for real. The TCP handshake
with the local proxy is not delayed. Throughputs are DevTools' effective ones (its
0.8/0.9 derating included) in both places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from monitor.network.faults import LimitDataToxic, ResetPeerToxic, SlicerToxic, TimeoutToxic
from monitor.network.toxics import BandwidthToxic, LatencyToxic, Toxic


class UnknownProfileError(ValueError):
    """No profile has this name; the message lists the valid names."""


@dataclass(frozen=True)
class CdpConditions:
    """Parameters of CDP ``Network.emulateNetworkConditions``.

    ``latency`` in ms from request sent to response headers; throughputs in
    bytes/s, -1 meaning unthrottled.
    """

    latency: float = 0
    download: float = -1
    upload: float = -1
    offline: bool = False


NO_THROTTLING = CdpConditions()


@dataclass(frozen=True)
class Outage:
    """The link of every route in a pool goes down and comes back on a fixed clock.

    The clock starts when the pool starts (``ProxyPool``): the link is down for
    ``down_s`` from ``offset_s`` after the start, then up for ``up_s``, and so on.
    ``mode`` says what down means:

    - ``"hold"``: nothing moves. Live connections freeze (their bytes wait); new
      connections are accepted but not dialled upstream. At recovery everything
      resumes at once: every waiting client connects and sends together.
    - ``"cut"``: live connections are reset when the link drops; new connections
      are reset as soon as they are accepted, until the link returns.
    """

    down_s: float
    up_s: float
    mode: Literal["hold", "cut"]
    offset_s: float = 0.0

    def __post_init__(self) -> None:
        if self.down_s <= 0 or self.up_s <= 0 or self.offset_s < 0:
            raise ValueError(f"outage: down_s and up_s must be > 0, offset_s >= 0: {self!r}")
        if self.mode not in ("hold", "cut"):
            raise ValueError(f"outage: mode must be 'hold' or 'cut', got {self.mode!r}")

    @property
    def period_s(self) -> float:
        return self.down_s + self.up_s

    def is_down(self, elapsed_s: float) -> bool:
        """Whether the link is down ``elapsed_s`` seconds after the clock started."""
        if elapsed_s < self.offset_s:
            return False
        return (elapsed_s - self.offset_s) % self.period_s < self.down_s

    def next_change(self, elapsed_s: float) -> float:
        """Seconds from ``elapsed_s`` until the link next goes up or down (> 0)."""
        if elapsed_s < self.offset_s:
            return self.offset_s - elapsed_s
        phase = (elapsed_s - self.offset_s) % self.period_s
        return (self.down_s - phase) if phase < self.down_s else (self.period_s - phase)


@dataclass(frozen=True)
class Profile:
    """A named impairment: proxy toxics (in order within each direction), an optional
    shared link schedule, and the browser's CDP throttling."""

    name: str
    description: str
    toxics: tuple[Toxic, ...] = ()
    cdp: CdpConditions = field(default=NO_THROTTLING)
    outage: Outage | None = None

    def cdp_conditions(self) -> dict[str, object]:
        """Params for CDP ``Network.emulateNetworkConditions`` on the browser path.

        ``{"offline", "latency" (ms), "downloadThroughput", "uploadThroughput"
        (bytes/s, -1 = unthrottled)}``. Chromium applies them per request, on top of
        whatever the proxy does to the TCP connection; CDP cannot reset or cut a
        connection, so for the fault profiles this is only their base link.
        """
        return {
            "offline": self.cdp.offline,
            "latency": self.cdp.latency,
            "downloadThroughput": self.cdp.download,
            "uploadThroughput": self.cdp.upload,
        }


def _link(down_kbps: float, up_kbps: float, rtt_ms: float) -> tuple[Toxic, ...]:
    """A symmetric-delay link: rates in kbit/s, round trip in ms (half each way).

    Bandwidth comes before latency in each direction, so the bytes in flight stay
    near rate x latency, as on a real link.
    """
    return (
        BandwidthToxic(stream="upstream", rate=up_kbps / 8),
        LatencyToxic(stream="upstream", latency=rtt_ms / 2),
        BandwidthToxic(stream="downstream", rate=down_kbps / 8),
        LatencyToxic(stream="downstream", latency=rtt_ms / 2),
    )


def _devtools(down_kbps: float, up_kbps: float, rtt_ms: float, multiplier: float) -> CdpConditions:
    return CdpConditions(
        latency=rtt_ms * multiplier, download=down_kbps * 1000 / 8, upload=up_kbps * 1000 / 8
    )


PROFILES: dict[str, Profile] = {
    "good": Profile("good", "Unimpaired: bytes pass straight through."),
    "3g": Profile(
        "3g",
        "DevTools Slow 3G: 400 kbit/s each way, 400 ms round trip, no jitter.",
        _link(400, 400, 400),
        _devtools(400, 400, 400, 5),
    ),
    "slow-4g": Profile(
        "slow-4g",
        "DevTools Slow 4G: 1.44 Mbit/s down, 675 kbit/s up, 150 ms round trip.",
        _link(1440, 675, 150),
        _devtools(1440, 675, 150, 3.75),
    ),
    "fast-4g": Profile(
        "fast-4g",
        "DevTools Fast 4G: 8.1 Mbit/s down, 1.35 Mbit/s up, 60 ms round trip.",
        _link(8100, 1350, 60),
        _devtools(8100, 1350, 60, 2.75),
    ),
    # Jitter of +-120 ms on 150 ms each way; 1 kB +- 512 B slices 10 ms apart cap the
    # download near 100 KB/s in stutters; 3 % of connections stall (the response is
    # dropped, the connection closes 3 s after the last byte tried to pass) and 5 %
    # are reset 500 ms after the first response bytes reach the toxic.
    "lossy": Profile(
        "lossy",
        "Lossy mobile: 150+-120 ms each way, 1 kB slices every 10 ms, 3 % stall, 5 % reset.",
        (
            LatencyToxic(stream="upstream", latency=150, jitter=120),
            LatencyToxic(stream="downstream", latency=150, jitter=120),
            SlicerToxic(stream="downstream", average_size=1024, size_variation=512, delay=10_000),
            TimeoutToxic(stream="downstream", timeout=3000, toxicity=0.03),
            ResetPeerToxic(stream="downstream", timeout=500, toxicity=0.05),
        ),
        CdpConditions(latency=300, download=100_000, upload=-1),
    ),
    # On the slow-4g link; 8 s up, then 2 s down, from the pool's start. A drop resets
    # every live connection and every connection attempt until the link returns.
    "flapping": Profile(
        "flapping",
        "Slow 4G whose link drops for 2 s every 10 s (at 8 s, 18 s, ...): resets.",
        _link(1440, 675, 150),
        _devtools(1440, 675, 150, 3.75),
        Outage(down_s=2, up_s=8, mode="cut", offset_s=8),
    ),
    "truncating": Profile(
        "truncating",
        "Unthrottled, but every connection is closed after 16 kB of response.",
        (LimitDataToxic(stream="downstream", bytes=16_000),),
    ),
    # Down first for 12 s from the pool's start, then up for 18 s, repeating. Probes
    # started while down wait (not dialled upstream) and all go at 12 s, 42 s, ...:
    # a reconnect storm. The longest wait, 12 s, leaves a 20 s deadline 8 s to finish.
    "outage-recovery": Profile(
        "outage-recovery",
        "Every route down 12 s of each 30 s (from the start), then all resume at once.",
        outage=Outage(down_s=12, up_s=18, mode="hold"),
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
