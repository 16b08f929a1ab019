"""Dashboard pages over a seeded history: overview, path history, canaries, access,
offline. The web app is the real one (`create_app`), served by aiohttp's test server."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from monitor.verdict import outcome_of
from tests.monitor.web.dashboard_seed import (
    PAGE_DELAY,
    Elements,
    Seeded,
    login,
    run,
    seed,
)

PAGES = ("/", "/fragments/overview", "/paths/hub", "/paths/app?window=7d", "/canaries")


def bearer(seeded: Seeded, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.tokens[name]}"}


def get_pages(seeded: Seeded, name: str, *urls: str) -> list[tuple[int, str]]:
    async def scenario(client: TestClient) -> list[tuple[int, str]]:
        out = []
        for url in urls:
            response = await client.get(url, headers=bearer(seeded, name))
            out.append((response.status, await response.text()))
        return out

    return run(seeded, scenario)


def test_anonymous_visitor_is_sent_to_login(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> list[tuple[int, str]]:
        out = []
        for url in (*PAGES, "/incidents/1", "/incidents/1/evidence/1/pixelated.png"):
            response = await client.get(url, allow_redirects=False)
            out.append((response.status, response.headers.get("Location", "")))
        return out

    for status, location in run(seeded, scenario):
        assert status == 302
        assert location.startswith("/login?next=")


def test_overview_cells_show_the_worst_verdict_of_the_window(seeded: Seeded) -> None:
    ((status, html),) = get_pages(seeded, "vera", "/")
    assert status == 200
    page = Elements(html)
    cells = {(c["data-path"], c["data-profile"]): c for c in page.find("td", class_="cell")}
    assert set(cells) == {("app", "good"), ("app", "3g"), ("hub", "good"), ("hub", "3g")}
    page_now = seeded.now + PAGE_DELAY
    since = (page_now - timedelta(minutes=15)).replace(second=0, microsecond=0)
    for (path, profile), cell in cells.items():
        seen = Counter(
            row.verdict
            for row in seeded.store.results(path=path)
            if row.profile == profile and row.started_at >= since
        )
        worst = {"foreign": 0, "spliced": 1, "foreign_canary": 2, "own_stale": 3, "error": 4}
        expected = min(seen, key=lambda v: worst.get(v, 9))
        assert cell["data-verdict"] == expected, (path, profile, seen)
        assert f"v-{outcome_of(expected)}" in cell["class"].split()
        for verdict, n in seen.items():
            assert f"{verdict} {n}" in cell["title"]
    assert cells[("hub", "3g")]["data-verdict"] == "foreign"  # the photograph
    assert cells[("app", "good")]["data-verdict"] == "own"


def test_overview_puts_open_incidents_above_the_matrix(seeded: Seeded) -> None:
    ((_, html),) = get_pages(seeded, "vera", "/")
    assert html.index("Open incidents") < html.index('class="matrix"')
    links = [a["href"] for a in Elements(html).find("a") if a["href"].startswith("/incidents/")]
    assert links == ["/incidents/2", "/incidents/1", "/incidents/3"]  # newest first
    switches = {
        path: re.search(r'data-killswitch="(\w+)"', row).group(1)  # type: ignore[union-attr]
        for path, row in re.findall(r'<tr data-path="(\w+)">(.*?)</tr>', html, re.S)
    }
    assert switches == {"app": "armed", "hub": "tripped"}  # the hub tripped by policy


def test_overview_fragment_is_only_the_live_region(seeded: Seeded) -> None:
    (status, fragment), (_, page) = get_pages(seeded, "vera", "/fragments/overview", "/")
    assert status == 200
    assert "<html" not in fragment
    assert 'class="matrix"' in fragment
    live = Elements(page).find("div", id="live")
    assert live == [{"id": "live", "data-live": "/fragments/overview", "data-every": "15"}]
    assert '<script src="/static/live.js" defer>' in page


def test_path_chart_points_are_the_recorded_probes(seeded: Seeded) -> None:
    ((status, html),) = get_pages(seeded, "vera", "/paths/hub?window=1h")
    assert status == 200
    page = Elements(html)
    drawn: Counter[tuple[str, str]] = Counter()
    profiles = [f["data-profile"] for f in page.find("figure", class_="chart-box")]
    assert profiles == ["good", "3g"]
    # The SVGs follow their figures in order; attribute each rect to the last figure.
    profile = ""
    for tag, attrs in page.tags:
        if tag == "figure" and "chart-box" in attrs.get("class", ""):
            profile = attrs["data-profile"]
        if tag == "rect" and attrs.get("data-outcome"):
            drawn[(profile, attrs["data-outcome"])] += int(attrs["data-count"])
    since = (seeded.now + PAGE_DELAY - timedelta(minutes=59)).replace(second=0, microsecond=0)
    recorded = Counter(
        (row.profile, outcome_of(row.verdict))
        for row in seeded.store.results(path="hub")
        if row.started_at >= since
    )
    assert drawn == recorded
    markers = page.find("g", class_="marker")  # on each profile's chart
    assert [(m["data-kind"], m["data-label"]) for m in markers] == [
        ("cache_update", "hub still cache v2")
    ] * 2
    latency = {
        (r["data-profile"], r["data-percentile"])
        for r in page.find("rect")
        if "data-percentile" in r
    }
    assert latency == {(p, q) for p in ("good", "3g") for q in ("p50", "p95", "p99")}
    p50_3g = float(page.find("rect", data_profile="3g", data_percentile="p50")[0]["data-value"])
    assert 2.0 < p50_3g < 4.5  # seeded 3g probes take 2.5-3.5 s


def test_path_window_switcher_and_bad_requests(seeded: Seeded) -> None:
    (_, html), (bad_window, _), (unknown, text) = get_pages(
        seeded, "vera", "/paths/app?window=7d", "/paths/app?window=2h", "/paths/nowhere"
    )
    links = Elements(html).find("a")
    windows = [a["href"] for a in links if "?window=" in a["href"] and "/paths/app" in a["href"]]
    assert windows == [f"/paths/app?window={w}" for w in ("1h", "24h", "7d", "30d")]
    assert [a for a in links if a.get("aria-current") == "page" and "window" in a["href"]] == [
        {"href": "/paths/app?window=7d", "aria-current": "page"}
    ]
    assert bad_window == 400
    assert unknown == 404
    assert "nowhere" in text


def test_hostile_event_title_is_escaped(seeded: Seeded) -> None:
    seeded.history.add_event(
        kind="deploy", title='<script>alert("x")</script>', at=seeded.now, path="app"
    )
    ((_, html),) = get_pages(seeded, "vera", "/paths/app?window=1h")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_canary_fleet_page(seeded: Seeded) -> None:
    ((status, html),) = get_pages(seeded, "vera", "/canaries")
    assert status == 200
    page = Elements(html)
    rows = {r["data-canary"]: r for r in page.find("tr") if "data-canary" in r}
    assert set(rows) == {"lobby", "nursery", "garage"}
    assert float(rows["lobby"]["data-own-age"]) == pytest.approx(120)  # 90 s + PAGE_DELAY
    assert rows["garage"]["data-own-age"] == ""  # garage is never probed: never seen
    assert "cam-nursery" in page.all_text
    assert "never" in page.all_text


def test_viewer_sees_no_operator_forms(seeded: Seeded) -> None:
    for status, html in get_pages(seeded, "vera", *PAGES, "/incidents/1", "/incidents/2"):
        assert status == 200
        assert 'method="post"' not in html
        assert "Reveal evidence" not in html


def test_operator_sees_kill_switch_forms(seeded: Seeded) -> None:
    ((_, html),) = get_pages(seeded, "olga", "/paths/hub")
    actions = [f["action"] for f in Elements(html).find("form")]
    assert actions == ["/paths/hub/killswitch/trip", "/paths/hub/killswitch/request-reenable"]


def test_pages_reference_no_other_host(seeded: Seeded) -> None:
    """Offline: no CDN, font or script from elsewhere; only the Slack thread link."""
    urls = (*PAGES, "/paths/hub?window=30d", "/incidents/1", "/incidents/2", "/incidents/3")
    assets = ("/static/camcanary.css", "/static/live.js")
    for status, html in get_pages(seeded, "olga", *urls, *assets):
        assert status == 200
        hosts = set(re.findall(r"(?:https?:)?//([a-z0-9.-]+)", html))
        assert hosts <= {"slack.com"}, hosts


def test_session_login_shows_the_user_and_a_logout_form(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> str:
        await login(client, "vera", seeded.tokens["vera"])
        return await (await client.get("/")).text()

    page = Elements(run(seeded, scenario))
    assert page.find("span", class_="who", data_role="viewer")
    assert [f["action"] for f in page.find("form")] == ["/logout"]


@pytest.mark.postgres
def test_pages_on_postgresql(postgres_url: str) -> None:
    seeded = asyncio.run(seed(postgres_url))
    try:
        pages: list[tuple[int, str]] = get_pages(
            seeded, "vera", "/", "/paths/hub?window=24h", "/incidents/1", "/canaries"
        )
        assert [status for status, _ in pages] == [200, 200, 200, 200]
        cell = Elements(pages[0][1]).find("td", data_path="hub", data_profile="3g")
        assert cell[0]["data-verdict"] == "foreign"
        assert "garage" in pages[2][1]
        with (  # the evidence-view audit is append-only on PostgreSQL too (a trigger)
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            seeded.store.engine.begin() as conn,
        ):
            conn.execute(sa.text("DELETE FROM evidence_views"))
    finally:
        seeded.close()
