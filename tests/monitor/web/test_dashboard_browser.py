"""The dashboard in Debian's Chromium (Playwright), against the real web app on loopback
with a seeded history: matrix colours, live refresh, chart data, evidence privacy.

Screenshots go to ``tests/artifacts/`` (kept as CI artifacts, ignored by git).
One browser and one server for the whole module; each test opens its own context.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from skimage.metrics import structural_similarity

from monitor.verdict import Verdict, outcome_of
from monitor.web.app import WebServer
from tests.monitor.web.dashboard_seed import Seeded, private_photo, probe, seeded_copy

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
RGB = {"leak": "rgb(198, 40, 40)", "own": "rgb(46, 125, 50)", "stale": "rgb(240, 165, 0)"}
T = TypeVar("T")


@dataclass
class Dashboard:
    loop: asyncio.AbstractEventLoop
    seeded: Seeded
    url: str
    browser: Browser

    def run(self, scenario: Callable[[], Awaitable[T]]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(scenario(), 60))

    async def page_as(self, name: str) -> tuple[BrowserContext, Page]:
        """A fresh browser context logged in as ``name`` through the login form."""
        context = await self.browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await page.goto(f"{self.url}/login")
        await page.fill("input[name=name]", name)
        await page.fill("input[name=token]", self.seeded.tokens[name])
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{self.url}/")
        return context, page


@pytest.fixture(scope="module")
def dashboard(
    chromium_executable: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    ARTIFACTS.mkdir(exist_ok=True)
    seeded = seeded_copy(tmp_path_factory, tmp_path_factory.mktemp("browser"), live=True)
    loop = asyncio.new_event_loop()
    server = WebServer(seeded.app(), "127.0.0.1", 0)
    playwright: Playwright | None = None
    browser: Browser | None = None
    try:
        loop.run_until_complete(server.start())
        playwright = loop.run_until_complete(async_playwright().start())
        browser = loop.run_until_complete(
            playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        )
        yield Dashboard(loop, seeded, server.url, browser)
    finally:
        if browser is not None:
            loop.run_until_complete(browser.close())
        if playwright is not None:
            loop.run_until_complete(playwright.stop())
        loop.run_until_complete(server.stop())
        loop.close()
        seeded.close()


async def background(page: Page, selector: str) -> str:
    return str(await page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor"))


def test_matrix_colours_and_live_refresh_without_reload(dashboard: Dashboard) -> None:
    async def scenario() -> dict[str, Any]:
        context, page = await dashboard.page_as("vera")
        await page.goto(f"{dashboard.url}/?refresh=1")
        hub_3g = "td[data-path=hub][data-profile='3g']"
        app_good = "td[data-path=app][data-profile=good]"
        before = {
            "hub_3g": await background(page, hub_3g),
            "app_good": await background(page, app_good),
            "incident_links": await page.locator("ul.incidents a").count(),
        }
        await page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)
        await page.evaluate("window.__sameDocument = true")
        # A cache starts replaying old frames on app/good: the cell must turn amber.
        stale = probe("app", "good", datetime.now(UTC), Verdict.OWN_STALE)
        await asyncio.to_thread(dashboard.seeded.store.record, stale)
        await page.wait_for_selector(f"{app_good}[data-verdict=own_stale]", timeout=15_000)
        after = {
            "app_good": await background(page, app_good),
            "same_document": await page.evaluate("window.__sameDocument === true"),
            "refreshed": await page.get_attribute("#live", "data-refreshed"),
        }
        await page.screenshot(path=str(ARTIFACTS / "dashboard-overview-refreshed.png"))
        # The session lapses: the login page must not be swapped into the dashboard.
        await context.clear_cookies()
        await page.wait_for_function(
            "document.getElementById('live-status').textContent.startsWith('Signed out')"
        )
        after["matrix_kept"] = await page.locator("table.matrix").count()
        await context.close()
        return {"before": before, "after": after}

    got = dashboard.run(scenario)
    assert got["before"]["hub_3g"] == RGB["leak"]
    assert got["before"]["app_good"] == RGB["own"]
    assert got["before"]["incident_links"] == 3
    assert got["after"]["app_good"] == RGB["stale"]
    assert got["after"]["same_document"] is True  # swapped in place, no navigation
    assert got["after"]["refreshed"]
    assert got["after"]["matrix_kept"] == 1


def test_chart_data_points_in_the_browser(dashboard: Dashboard) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], str, list[str]]:
        context, page = await dashboard.page_as("vera")
        await page.goto(f"{dashboard.url}/paths/hub?window=1h")
        points = await page.eval_on_selector_all(
            "figure.chart-box rect[data-outcome]",
            """rects => rects.map(r => ({
                profile: r.closest('figure').dataset.profile,
                outcome: r.dataset.outcome,
                count: Number(r.dataset.count),
                fill: getComputedStyle(r).fill,
                height: r.getBoundingClientRect().height,
            }))""",
        )
        markers = await page.eval_on_selector_all("g.marker", "gs => gs.map(g => g.dataset.label)")
        await page.screenshot(path=str(ARTIFACTS / "dashboard-path-hub.png"), full_page=True)
        await page.goto(f"{dashboard.url}/canaries")
        await page.screenshot(path=str(ARTIFACTS / "dashboard-canaries.png"), full_page=True)
        await context.close()
        return points, "", markers

    points, _, markers = dashboard.run(scenario)
    drawn: Counter[tuple[str, str]] = Counter()
    for point in points:
        drawn[(point["profile"], point["outcome"])] += point["count"]
        assert point["height"] > 0
    since = datetime.now(UTC) - timedelta(minutes=59)
    recorded = Counter(
        (row.profile, outcome_of(row.verdict))
        for row in dashboard.seeded.store.results(path="hub")
        if row.started_at >= since.replace(second=0, microsecond=0)
    )
    assert drawn == recorded
    assert {p["fill"] for p in points if p["outcome"] == "leak"} == {RGB["leak"]}
    assert markers == ["hub still cache v2", "hub still cache v2"]


def grey_of(png: bytes, size: tuple[int, int]) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("L").resize(size), dtype=np.float64)


def test_evidence_pixelated_for_viewer_and_clear_for_operator_after_reveal(
    dashboard: Dashboard,
) -> None:
    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        context, page = await dashboard.page_as("vera")
        await page.goto(f"{dashboard.url}/incidents/2")
        image = page.locator("img.pixelated")
        await image.wait_for()
        await page.wait_for_function("document.querySelector('img.pixelated').complete")
        out["viewer_png"] = await image.screenshot()
        out["viewer_buttons"] = await page.get_by_role("button", name="Reveal evidence").count()
        await page.screenshot(path=str(ARTIFACTS / "dashboard-incident-viewer.png"), full_page=True)
        await context.close()

        context, page = await dashboard.page_as("olga")
        await page.goto(f"{dashboard.url}/incidents/2")
        await page.fill("input[name=reason]", "confirm whose picture leaked")
        await page.get_by_role("button", name="Reveal evidence").click()
        clear = page.locator("img.clear")
        await clear.wait_for()
        await page.wait_for_function("document.querySelector('img.clear').naturalWidth > 0")
        out["clear_png"] = await clear.screenshot()
        await page.screenshot(path=str(ARTIFACTS / "dashboard-evidence-clear.png"), full_page=True)
        await page.goto(f"{dashboard.url}/incidents/2")
        out["views"] = await page.locator("tr[data-view]").all_inner_texts()
        await page.screenshot(
            path=str(ARTIFACTS / "dashboard-incident-operator.png"), full_page=True
        )
        await context.close()
        return out

    got = dashboard.run(scenario)
    original = grey_of(private_photo(), (256, 256))
    viewer = grey_of(got["viewer_png"], (256, 256))
    operator = grey_of(got["clear_png"], (256, 256))
    assert got["viewer_buttons"] == 0
    assert structural_similarity(original, viewer, data_range=255) < 0.45
    assert structural_similarity(original, operator, data_range=255) > 0.8
    assert len(got["views"]) == 1
    assert "olga" in got["views"][0]
    assert "confirm whose picture leaked" in got["views"][0]
