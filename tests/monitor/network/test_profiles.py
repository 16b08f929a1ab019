"""The named profiles carry exactly the numbers their descriptions promise."""

from __future__ import annotations

import pytest

from monitor.network import (
    PROFILES,
    BandwidthToxic,
    LatencyToxic,
    LimitDataToxic,
    Outage,
    ResetPeerToxic,
    SlicerToxic,
    TimeoutToxic,
)


def link(profile: str) -> dict[str, float]:
    """Rates in kbit/s and the round trip in ms, read back from the profile's toxics."""
    out: dict[str, float] = {"rtt": 0}
    for toxic in PROFILES[profile].toxics:
        if isinstance(toxic, BandwidthToxic):
            out[f"{toxic.stream}_kbps"] = toxic.rate * 8
        elif isinstance(toxic, LatencyToxic):
            out["rtt"] += toxic.latency
    return out


@pytest.mark.parametrize(
    ("name", "down_kbps", "up_kbps", "rtt_ms", "cdp"),
    [
        # Chrome DevTools' presets (devtools-frontend NetworkManager.ts), verbatim:
        # throughput in bytes/s after DevTools' 0.8/0.9 factors; latency = RTT x 5/3.75/2.75.
        ("3g", 400, 400, 400, (2000, 50_000, 50_000)),
        ("slow-4g", 1440, 675, 150, (562.5, 180_000, 84_375)),
        ("fast-4g", 8100, 1350, 60, (165, 1_012_500, 168_750)),
    ],
)
def test_devtools_profiles_match_chrome_presets(
    name: str, down_kbps: float, up_kbps: float, rtt_ms: float, cdp: tuple[float, float, float]
) -> None:
    assert link(name) == {"downstream_kbps": down_kbps, "upstream_kbps": up_kbps, "rtt": rtt_ms}
    assert PROFILES[name].cdp_conditions() == {
        "offline": False,
        "latency": cdp[0],
        "downloadThroughput": cdp[1],
        "uploadThroughput": cdp[2],
    }


def test_every_profile_has_a_description_and_cdp_params_of_the_right_shape() -> None:
    assert list(PROFILES) == [
        "good",
        "3g",
        "slow-4g",
        "fast-4g",
        "lossy",
        "flapping",
        "truncating",
        "outage-recovery",
    ]
    for name, profile in PROFILES.items():
        assert profile.name == name
        assert profile.description.strip()
        params = profile.cdp_conditions()
        assert set(params) == {"offline", "latency", "downloadThroughput", "uploadThroughput"}
        assert params["offline"] is False
    assert PROFILES["good"].toxics == ()
    assert PROFILES["good"].cdp_conditions()["downloadThroughput"] == -1


def test_fault_profiles_have_their_exact_numbers() -> None:
    assert PROFILES["lossy"].toxics == (
        LatencyToxic(stream="upstream", latency=150, jitter=120),
        LatencyToxic(stream="downstream", latency=150, jitter=120),
        SlicerToxic(stream="downstream", average_size=1024, size_variation=512, delay=10_000),
        TimeoutToxic(stream="downstream", timeout=3000, toxicity=0.03),
        ResetPeerToxic(stream="downstream", timeout=500, toxicity=0.05),
    )
    assert PROFILES["flapping"].outage == Outage(down_s=2, up_s=8, mode="cut", offset_s=8)
    assert link("flapping") == link("slow-4g")
    assert PROFILES["truncating"].toxics == (LimitDataToxic(stream="downstream", bytes=16_000),)
    recovery = PROFILES["outage-recovery"]
    assert recovery.outage == Outage(down_s=12, up_s=18, mode="hold")
    assert recovery.toxics == ()
    # A probe started at any time waits at most 12 s: a 20 s deadline keeps 8 s.
    assert max(recovery.outage.next_change(t / 10) for t in range(0, 120)) <= 12
