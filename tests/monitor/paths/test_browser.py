"""The ``browser`` path in real Chromium: login, the viewer's picture through the impairment
proxy, clear failures within the deadline, and no Chromium process left behind."""

from __future__ import annotations

import asyncio
import contextlib
import io
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from canaries import Codebook, Reader, render
from monitor.config import CanaryConfig, PathConfig
from monitor.judge import classify
from monitor.paths import Capture, CaptureFailure
from monitor.paths import chromium as browser
from monitor.paths.browser import BrowserPath
from monitor.paths.chromium import BrowserError, find_chromium
from monitor.verdict import Verdict
from testbed.serving import serve
from tests.harness import counting, direct, serve_elsewhere

Testbed = Callable[..., None]
Sessions = Callable[[int], list[int]]
LOBBY = CanaryConfig(name="lobby", camera_id="cam-lobby", token=SecretStr("t"))


def viewer(url: str, chromium: str, **fields: Any) -> PathConfig:
    """The web viewer path at ``url``, read by the ``chromium`` executable."""
    return PathConfig(name="web", kind="browser", url=url, chromium=chromium, **fields)


def test_find_chromium_prefers_the_configured_then_system_and_lists_what_it_tried(
    monkeypatch: pytest.MonkeyPatch, chromium_executable: str, tmp_path: Any
) -> None:
    assert find_chromium(chromium_executable) == chromium_executable
    monkeypatch.setattr(browser, "SYSTEM_CHROMIUM", (chromium_executable,))
    assert find_chromium(str(tmp_path / "missing")) == chromium_executable
    monkeypatch.setattr(browser, "SYSTEM_CHROMIUM", ("/nonexistent/chromium",))
    with pytest.raises(BrowserError) as caught:
        find_chromium(str(tmp_path / "missing"), bundled=str(tmp_path / "bundled"))
    message = str(caught.value)
    for tried in (tmp_path / "missing", "/nonexistent/chromium", tmp_path / "bundled"):
        assert str(tried) in message


def test_browser_logs_in_and_reads_own_picture_through_the_proxy_leaving_no_process(
    testbed: Testbed, chromium_executable: str, session_processes: Sessions
) -> None:
    async def scenario(bench: Any) -> None:
        adapter = bench.adapters["web"]
        good = await bench.probe("web", "good", "lobby")
        good_pid = adapter.last_browser_pid
        slow = await bench.probe("web", "3g", "nursery")

        assert (good.verdict, good.source_canary, good.status) == (Verdict.OWN, "lobby", 200)
        assert (slow.verdict, slow.source_canary, slow.status) == (Verdict.OWN, "nursery", 200)
        assert slow.duration_s > good.duration_s
        assert good.bytes_received > 10_000  # the login page, the viewer, its pictures
        # Every byte of the 3g probe went through its proxy: MAP rules, not a bypass.
        [proxy] = [p for p in bench.pool.proxies() if p.toxics]
        assert proxy.connections >= 1
        assert proxy.bytes_down >= slow.bytes_received * 0.9
        for pid in (good_pid, adapter.last_browser_pid):
            assert pid is not None
            assert session_processes(pid) == []

    # 3g costs ~12 s unloaded: DevTools' 2 s per request on top of the proxy's link. The
    # deadline leaves room for a machine busy with other tests.
    overrides = {"web": {"chromium": chromium_executable}}
    testbed(["web"], scenario, overrides=overrides, deadline_s=45.0)


def test_browser_failures_are_clear_http_and_selector_failures_within_the_deadline(
    testbed: Testbed, chromium_executable: str, session_processes: Sessions
) -> None:
    async def scenario(bench: Any) -> None:
        wrong = CanaryConfig(name="lobby", camera_id="cam-lobby", token=SecretStr("wrong"))
        refused = await bench.capture("web", wrong)
        nothing = await bench.probe("nothing", "good", "lobby")
        bench.cloud.set_killswitch("web", "tripped", "drill")
        tripped = await bench.probe("web", "good", "lobby")

        assert isinstance(refused, CaptureFailure)
        assert (refused.reason, refused.status) == ("HTTP 401", 401)  # the login refused it
        assert nothing.verdict is Verdict.ERROR
        assert nothing.detail == "selector 'video#never' showed no picture within 2 s"
        assert nothing.duration_s < 20  # its own 2 s wait, not the 20 s deadline, ended it
        assert (tripped.verdict, tripped.detail, tripped.status) == (Verdict.ERROR, "HTTP 503", 503)
        assert session_processes(bench.adapters["web"].last_browser_pid) == []

    base = {"chromium": chromium_executable}
    never = {**base, "selector": "video#never", "read_timeout_s": 2}
    # "nothing" is the web viewer again, under another name, waiting for a missing element.
    testbed(
        ["web", "nothing"],
        scenario,
        overrides={"web": base, "nothing": never},
        manifest_aliases={"nothing": "web"},
    )


def test_cancelled_probe_leaves_no_chromium_process(
    chromium_executable: str, session_processes: Sessions
) -> None:
    async def main() -> None:
        async def page(request: web.Request) -> web.Response:
            return web.Response(text="<p>no picture here</p>", content_type="text/html")

        app = web.Application()
        app.router.add_get("/", page)
        runner, url = await serve(app)
        config = viewer(url + "/", chromium_executable, selector="canvas", read_timeout_s=60)
        adapter = BrowserPath(config)
        canary = LOBBY

        try:
            task = asyncio.create_task(adapter.capture(canary, "good", direct))
            async with asyncio.timeout(30):
                while adapter.last_browser_pid is None:  # noqa: ASYNC110 - the adapter has no event to wait on
                    await asyncio.sleep(0.05)
            pid = adapter.last_browser_pid
            await asyncio.sleep(0.5)
            assert session_processes(pid), "Chromium should be running mid-probe"
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert session_processes(pid) == []
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_requests_off_the_viewers_origin_are_aborted_never_dialled(
    chromium_executable: str,
) -> None:
    hits: list[str] = []

    async def main() -> CaptureFailure:
        elsewhere = counting(hits, lambda: web.Response(body=b"", content_type="image/jpeg"))
        other_runner, port = await serve_elsewhere(elsewhere)

        async def page(request: web.Request) -> web.Response:
            html = f'<img id="x" src="http://localhost:{port}/private.jpg">'
            return web.Response(text=html, content_type="text/html")

        app = web.Application()
        app.router.add_get("/", page)
        runner, url = await serve(app)
        config = viewer(url + "/", chromium_executable, selector="img#x", read_timeout_s=2)
        canary = LOBBY

        try:
            result = await BrowserPath(config).capture(canary, "good", direct)
        finally:
            await runner.cleanup()
            await other_runner.cleanup()
        assert isinstance(result, CaptureFailure)
        return result

    result = asyncio.run(main())
    assert result.reason.startswith("selector 'img#x'")
    assert hits == []


def test_a_browser_that_cannot_start_is_a_clear_failure_leaving_no_profile(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    canary = LOBBY

    async def attempt(executable: str) -> CaptureFailure:
        config = PathConfig(name="web", kind="browser", url="http://127.0.0.1:9/")
        adapter = BrowserPath(config.model_copy(update={"chromium": executable}))
        monkeypatch.setattr(browser, "SYSTEM_CHROMIUM", ())
        result = await adapter.capture(canary, "good", direct)
        assert isinstance(result, CaptureFailure)
        return result

    exits = asyncio.run(attempt("/bin/false"))
    assert exits.reason == "Chromium exited at start with status 1"
    assert list(tmp_path.iterdir()) == []


def test_a_canvas_is_captured_once_something_is_drawn_on_it(chromium_executable: str) -> None:
    book = Codebook(b"monitor paths tests: deployment secret")
    picture = io.BytesIO()
    render(book, "lobby", datetime.now(UTC), (640, 360)).convert("RGB").save(picture, "JPEG")

    async def main() -> Any:
        async def page(request: web.Request) -> web.Response:
            html = (
                '<canvas id="c" width="640" height="360"></canvas><script>'
                "const i = new Image(); i.onload = () => setTimeout(() => "
                'document.getElementById("c").getContext("2d").drawImage(i, 0, 0), 500);'
                'i.src = "/pic.jpg";</script>'
            )
            return web.Response(text=html, content_type="text/html")

        async def pic(request: web.Request) -> web.Response:
            return web.Response(body=picture.getvalue(), content_type="image/jpeg")

        app = web.Application()
        app.router.add_get("/", page)
        app.router.add_get("/pic.jpg", pic)
        runner, url = await serve(app)
        config = viewer(url + "/", chromium_executable, selector="canvas#c", read_timeout_s=10)
        canary = LOBBY

        try:
            return await BrowserPath(config).capture(canary, "good", direct)
        finally:
            await runner.cleanup()

    result = asyncio.run(main())
    assert isinstance(result, Capture), result
    judgement = classify(Reader(book, ["lobby"]), result.frames[0], "lobby", datetime.now(UTC), 60)
    assert judgement.verdict is Verdict.OWN  # drawn, not the blank canvas before the draw
