"""The ``thumbnails`` path: event lists and thumbnails from the loopback testbed through
the impairment proxy, the wyze-2024 reconnect storm, and hostile event lists."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from canaries import Codebook, Reader
from monitor.config import CanaryConfig, PathConfig
from monitor.judge import classify
from monitor.paths import Capture, CaptureFailure
from monitor.paths.thumbnails import ThumbnailsPath
from monitor.verdict import Verdict
from testbed.serving import serve
from tests.harness import counting, direct, serve_elsewhere

Testbed = Callable[..., None]
SECRET = b"monitor paths tests: deployment secret"
TENANTS = ["lobby", "nursery", "garage"]


def test_thumbnails_path_reads_every_thumbnail_as_own_on_good_and_3g(testbed: Testbed) -> None:
    async def scenario(bench: Any) -> None:
        good = await bench.probe("events", "good", "lobby")
        slow = await bench.probe("events", "3g", "nursery")
        capture = await bench.capture("events", "garage")

        assert (good.verdict, good.source_canary, good.status) == (Verdict.OWN, "lobby", 200)
        assert (slow.verdict, slow.source_canary) == (Verdict.OWN, "nursery")
        assert slow.duration_s > good.duration_s  # 3g's 400 ms round trips were paid
        assert isinstance(capture, Capture)
        assert len(capture.frames) == 2  # frames: 2 in the manifest entry
        reader = Reader(Codebook(SECRET), TENANTS)
        now = datetime.now(UTC)
        for frame in capture.frames:
            assert classify(reader, frame, "garage", now, 60).verdict is Verdict.OWN
        assert capture.bytes_received > sum(len(f) for f in capture.frames)  # + the list

    testbed(["events"], scenario)


def test_wyze_2024_concurrent_probes_of_several_tenants_see_foreign_thumbnails(
    testbed: Testbed,
) -> None:
    async def scenario(bench: Any) -> None:
        calm = await bench.probe("events", "good", "garage")
        await bench.admin("POST", "/admin/v1/bugs", json={"bug": "wyze-2024", "enabled": True})
        await asyncio.sleep(0.4)
        still_calm = await bench.probe("events", "good", "lobby")
        burst = await asyncio.gather(
            *(bench.probe("events", "good", name) for name in ("lobby", "nursery", "garage"))
        )

        assert (calm.verdict, still_calm.verdict) == (Verdict.OWN, Verdict.OWN)
        leaks = [r for r in burst if r.verdict is Verdict.FOREIGN_CANARY]
        assert leaks, [(r.canary, r.verdict, r.detail) for r in burst]
        for result in leaks:
            assert result.source_canary in TENANTS
            assert result.source_canary != result.canary
            assert result.frame is not None  # kept for the evidence vault, not logged
            assert "of 2)" in result.detail  # which of the two thumbnails leaked

    testbed(["events"], scenario)


def test_wyze_2024_is_caught_when_an_outage_releases_every_probe_at_once(
    testbed: Testbed,
) -> None:
    async def scenario(bench: Any) -> None:
        await bench.admin("POST", "/admin/v1/bugs", json={"bug": "wyze-2024", "enabled": True})
        # The pool's outage clock starts down: these probes wait together, then go.
        burst = await asyncio.gather(
            *(bench.probe("events", "outage-recovery", n) for n in ("lobby", "nursery"))
        )
        assert any(r.verdict is Verdict.FOREIGN_CANARY for r in burst), [
            (r.verdict, r.detail) for r in burst
        ]
        assert min(r.duration_s for r in burst) > 5  # they really were held

    testbed(["events"], scenario, deadline_s=25.0)


def test_bad_token_is_an_http_401_failure(testbed: Testbed) -> None:
    async def scenario(bench: Any) -> None:
        wrong = CanaryConfig(name="lobby", camera_id="cam-lobby", token=SecretStr("nope"))
        result = await bench.capture("events", wrong)
        assert isinstance(result, CaptureFailure)
        assert (result.reason, result.status) == ("HTTP 401", 401)

    testbed(["events"], scenario)


# -- hostile event lists -----------------------------------------------------------------


async def hostile(listing: Any, elsewhere_hits: list[str]) -> tuple[list[web.AppRunner], str]:
    """A list server (127.0.0.1) and an image server on another host name (localhost)."""

    image = counting(
        elsewhere_hits, lambda: web.Response(body=b"\xff\xd8\xff\xd9", content_type="image/jpeg")
    )
    other_runner, port = await serve_elsewhere(image)

    async def events(request: web.Request) -> web.Response:
        body = listing(port) if callable(listing) else listing
        return web.Response(text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_get("/events", events)
    app.router.add_get("/{name}", image)
    runner, url = await serve(app)
    return [runner, other_runner], url


def run_hostile(listing: Any) -> tuple[Capture | CaptureFailure, list[str]]:
    hits: list[str] = []

    async def main() -> Capture | CaptureFailure:
        runners, url = await hostile(listing, hits)
        try:
            config = PathConfig(name="events", kind="thumbnails", url=url + "/events", frames=2)
            canary = CanaryConfig(name="lobby", camera_id="cam-lobby", token=SecretStr("t"))
            return await ThumbnailsPath(config).capture(canary, "good", direct)
        finally:
            for runner in runners:
                await runner.cleanup()

    return asyncio.run(main()), hits


def test_thumbnail_on_a_host_not_allowed_is_refused_before_connecting() -> None:
    def listing(port: str) -> dict[str, Any]:
        return {
            "events": [
                {"id": "1", "at": "2026-11-22T10:00:02+00:00", "thumbnail_url": "/ok.jpg"},
                {
                    "id": "2",
                    "at": "2026-11-22T10:00:01+00:00",
                    "thumbnail_url": f"http://localhost:{port}/private.jpg",
                },
            ]
        }

    result, hits = run_hostile(listing)
    assert isinstance(result, CaptureFailure)
    assert result.reason == "refused host 'localhost': not in allowed_hosts"
    assert hits == []  # not even the allowed thumbnail was fetched before refusing


def test_malformed_event_lists_are_clear_failures() -> None:
    cases = {
        "event list is not a list of events": {"events": {"id": 1}},
        "event without a string 'at' and 'thumbnail_url'": [{"id": "1", "at": 5}],
        "no events in the list": {"events": []},
        "event time 'yesterday' is not ISO 8601": [{"at": "yesterday", "thumbnail_url": "/a"}],
    }
    for reason, listing in cases.items():
        result, hits = run_hostile(listing)
        assert isinstance(result, CaptureFailure), reason
        assert result.reason == reason
        assert hits == []
