"""Tier selection from Client Hints, the quality cache and its bug, without HTTP."""

from __future__ import annotations

import asyncio

import pytest

from canaries import Codebook, Reader, VirtualCanaryCamera
from testbed import BUGS, QualityCache, UnknownBugError, get_bug, select_tier
from testbed.hub import Tier


@pytest.mark.parametrize(
    ("hints", "tier"),
    [
        ({}, "high"),
        ({"ECT": "4g"}, "high"),
        ({"ECT": "4g", "RTT": "250", "Downlink": "0.7"}, "high"),
        ({"ECT": "3g"}, "low"),
        ({"ect": "2g"}, "low"),
        ({"ECT": '"slow-2g"'}, "low"),
        ({"RTT": "270"}, "low"),
        ({"ECT": "4g", "Downlink": "0.65"}, "low"),
        ({"RTT": "lots", "Downlink": "nan"}, "high"),
        ({"RTT": "-5", "Downlink": "-1"}, "high"),
    ],
)
def test_tier_follows_chromium_network_hints(hints: dict[str, str], tier: Tier) -> None:
    assert select_tier(hints) == tier


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cameras() -> dict[str, VirtualCanaryCamera]:
    book = Codebook(b"hub tests")
    return {name: VirtualCanaryCamera(book, name) for name in ("a", "b")}


def test_cache_keeps_a_still_per_camera_and_tier_for_its_ttl(
    cameras: dict[str, VirtualCanaryCamera],
) -> None:
    clock = FakeClock()
    cache = QualityCache(ttl=3.0, clock=clock)

    async def scenario() -> None:
        first = await cache.still("cam-a", "low", cameras["a"].capture)
        assert await cache.still("cam-a", "low", cameras["a"].capture) is first
        assert await cache.still("cam-b", "low", cameras["b"].capture) is not first
        assert await cache.still("cam-a", "high", cameras["a"].capture) is not first
        clock.now += 3.0
        assert await cache.still("cam-a", "low", cameras["a"].capture) is not first

    asyncio.run(scenario())
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 4, 1)


def test_xiaomi_2020_drops_the_camera_from_low_tier_keys_only(
    cameras: dict[str, VirtualCanaryCamera],
) -> None:
    cache = QualityCache(clock=FakeClock())
    reader = Reader(Codebook(b"hub tests"), fleet=["a", "b"])
    bugs = frozenset({"xiaomi-2020"})

    async def scenario() -> None:
        await cache.still("cam-a", "low", cameras["a"].latest, bugs=bugs)
        await cache.still("cam-a", "high", cameras["a"].latest, bugs=bugs)
        low = await cache.still("cam-b", "low", cameras["b"].latest, bugs=bugs)
        high = await cache.still("cam-b", "high", cameras["b"].latest, bugs=bugs)
        assert reader.read(low.jpeg).canary == "a"
        assert reader.read(high.jpeg).canary == "b"

    asyncio.run(scenario())


def test_unknown_bug_error_lists_the_valid_bugs() -> None:
    assert get_bug("xiaomi-2020") is BUGS["xiaomi-2020"]
    assert BUGS["xiaomi-2020"].path == "hub"
    valid = ", ".join(sorted(BUGS))
    with pytest.raises(UnknownBugError, match=rf"'eufy-1999'.*valid bugs: {valid}$"):
        get_bug("eufy-1999")
