"""The incident page and its evidence: pixelated for viewers, clear only to the operator
who asked (audited first), never cached, never at a URL anyone else can fetch."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from skimage.metrics import structural_similarity

from canaries import Codebook, render
from monitor.store.evidence_views import StoredEvidence, views_of
from monitor.store.history import ProbeRecord
from monitor.web.pages.base import GRANTS
from monitor.web.pages.evidence import RevealGrants, as_png
from monitor.web.pages.incident import pair
from tests.monitor.web.dashboard_seed import (
    SECRET,
    SLACK_CHANNEL,
    SLACK_TS,
    Elements,
    Seeded,
    csrf_of,
    login,
    private_photo,
    run,
)

PHOTO_EVIDENCE = 3  # incident 2's frame: the astronaut photograph
REVEAL = f"/incidents/2/evidence/{PHOTO_EVIDENCE}/reveal"


def views(seeded: Seeded, incident_id: int = 2) -> list[tuple[str, int, str]]:
    with seeded.store.engine.connect() as conn:
        return [(v.actor, v.evidence_id, v.reason) for v in views_of(conn, incident_id)]


def grey(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("L"), dtype=np.float64)


def test_incident_page_for_a_viewer(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> str:
        await login(client, "vera", seeded.tokens["vera"])
        return await (await client.get("/incidents/1")).text()

    html = run(seeded, scenario)
    page = Elements(html)
    hits = [t for t in page.find("tr") if "data-hit" in t]
    assert len(hits) == 2
    assert "nursery" in page.all_text
    assert "garage" in page.all_text
    (slack,) = [a for a in page.find("a") if a["href"].startswith("https://slack.com/")]
    assert slack["href"] == f"https://slack.com/app_redirect?channel={SLACK_CHANNEL}"
    assert slack["data-slack-ts"] == SLACK_TS
    audit = [t["data-audit"] for t in page.find("tr") if "data-audit" in t]
    assert audit == ["trip"]  # the hub tripped by policy on the first hit
    expected = page.find("img", class_="expected")
    pixelated = page.find("img", class_="pixelated")
    assert len(expected) == len(pixelated) == 2
    assert pixelated[0]["src"] == "/incidents/1/evidence/1/pixelated.png"
    assert "Reveal evidence" not in html
    assert [f["action"] for f in page.find("form")] == ["/logout"]


def test_viewer_gets_a_pixelated_frame_that_hides_the_photo(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> tuple[int, dict[str, str], bytes, int]:
        headers = {"Authorization": f"Bearer {seeded.tokens['vera']}"}
        url = f"/incidents/2/evidence/{PHOTO_EVIDENCE}/pixelated.png"
        response = await client.get(url, headers=headers)
        wrong = await client.get(
            f"/incidents/1/evidence/{PHOTO_EVIDENCE}/pixelated.png", headers=headers
        )
        return response.status, dict(response.headers), await response.read(), wrong.status

    status, headers, body, wrong_incident = run(seeded, scenario)
    assert status == 200
    assert headers["Content-Type"] == "image/png"
    assert "no-store" in headers["Cache-Control"]
    original = grey(as_png(private_photo()))
    shown = np.asarray(
        Image.fromarray(grey(body).astype(np.uint8)).resize(original.shape[::-1]), np.float64
    )
    assert structural_similarity(original, shown, data_range=255) < 0.45
    assert wrong_incident == 404  # evidence is only served under its own incident


def test_expected_frame_is_the_probing_canarys_render(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> tuple[int, bytes, str]:
        headers = {"Authorization": f"Bearer {seeded.tokens['vera']}"}
        html = await (await client.get("/incidents/1", headers=headers)).text()
        src = Elements(html).find("img", class_="expected")[0]["src"]
        response = await client.get(src, headers=headers)
        return response.status, await response.read(), src

    status, body, src = run(seeded, scenario)
    assert status == 200
    probe_id = int(src.split("/")[4])
    hit = seeded.history.probe(probe_id)
    assert hit is not None
    assert hit.canary == "nursery"
    want = np.asarray(render(Codebook(SECRET), "nursery", hit.started_at, (640, 360)), np.float64)
    assert np.array_equal(grey(body), want)


def test_viewer_cannot_reveal_or_fetch_a_clear_frame(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> tuple[int, int]:
        await login(client, "vera", seeded.tokens["vera"])
        csrf = csrf_of(await (await client.get("/incidents/2")).text())  # the logout form's
        form = {"csrf_token": csrf, "reason": "curious"}
        posted = await client.post(REVEAL, data=form, allow_redirects=False)
        fetched = await client.get("/evidence/clear/anything.png", allow_redirects=False)
        return posted.status, fetched.status

    assert run(seeded, scenario) == (403, 403)
    assert views(seeded) == []


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_reveal_without_the_right_csrf_token_is_refused(seeded: Seeded, token: str | None) -> None:
    async def scenario(client: TestClient) -> int:
        await login(client, "olga", seeded.tokens["olga"])
        form = {"reason": "confirm the leak"}
        if token is not None:
            form["csrf_token"] = token
        return (await client.post(REVEAL, data=form, allow_redirects=False)).status

    assert run(seeded, scenario) == 403
    assert views(seeded) == []


def test_reveal_needs_a_reason(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> int:
        await login(client, "olga", seeded.tokens["olga"])
        csrf = csrf_of(await (await client.get("/incidents/2")).text())
        form = {"csrf_token": csrf, "reason": "  "}
        return (await client.post(REVEAL, data=form)).status

    assert run(seeded, scenario) == 400
    assert views(seeded) == []


def test_operator_reveal_is_audited_and_clear_only_for_that_operator(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> dict[str, object]:
        await login(client, "olga", seeded.tokens["olga"])
        csrf = csrf_of(await (await client.get("/incidents/2")).text())
        form = {"csrf_token": csrf, "reason": "confirm whose home this is"}
        revealed = await client.post(REVEAL, data=form)
        html = await revealed.text()
        (img,) = Elements(html).find("img", class_="clear")
        clear = await client.get(img["src"])
        others = {}
        for name in ("otto", "vera"):
            bearer = {"Authorization": f"Bearer {seeded.tokens[name]}"}
            others[name] = (await client.get(img["src"], headers=bearer)).status
        after = await (await client.get("/incidents/2")).text()
        return {
            "status": revealed.status,
            "page_cache": revealed.headers["Cache-Control"],
            "src": img["src"],
            "clear_status": clear.status,
            "clear_cache": clear.headers["Cache-Control"],
            "clear": await clear.read(),
            "others": others,
            "after": after,
        }

    got = run(seeded, scenario)
    assert got["status"] == 200
    assert "no-store" in str(got["page_cache"])
    assert str(got["src"]).startswith("/evidence/clear/")
    assert got["clear_status"] == 200
    assert "no-store" in str(got["clear_cache"])
    assert np.array_equal(grey(got["clear"]), grey(as_png(private_photo())))  # type: ignore[arg-type]
    assert got["others"] == {"otto": 403, "vera": 403}
    assert views(seeded) == [("olga", PHOTO_EVIDENCE, "confirm whose home this is")]
    rows = [t for t in Elements(str(got["after"])).find("tr") if "data-view" in t]
    assert len(rows) == 1
    assert "confirm whose home this is" in str(got["after"])


def test_expired_grant_no_longer_serves_the_frame(seeded: Seeded) -> None:
    clock = [1000.0]
    app = seeded.app()
    app[GRANTS] = RevealGrants(ttl_s=120, clock=lambda: clock[0])

    async def main() -> tuple[int, int]:
        async with TestClient(TestServer(app)) as client:
            await login(client, "olga", seeded.tokens["olga"])
            csrf = csrf_of(await (await client.get("/incidents/2")).text())
            form = {"csrf_token": csrf, "reason": "check"}
            html = await (await client.post(REVEAL, data=form)).text()
            src = Elements(html).find("img", class_="clear")[0]["src"]
            before = (await client.get(src)).status
            clock[0] += 121
            return before, (await client.get(src)).status

    assert asyncio.run(main()) == (200, 403)


def test_purged_evidence_is_shown_as_deleted(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> tuple[str, int]:
        headers = {"Authorization": f"Bearer {seeded.tokens['olga']}"}
        html = await (await client.get("/incidents/3", headers=headers)).text()
        gone = await client.get("/incidents/3/evidence/4/pixelated.png", headers=headers)
        return html, gone.status

    html, gone = run(seeded, scenario)
    page = Elements(html)
    assert page.find("p", data_evidence="none")
    assert "expired and were deleted" in page.all_text
    assert "frame since deleted" in page.all_text  # the earlier clear view stays audited
    assert "Reveal evidence" not in html
    assert gone == 404


def test_evidence_views_are_append_only(seeded: Seeded) -> None:
    for statement in ("UPDATE evidence_views SET reason = 'nothing'", "DELETE FROM evidence_views"):
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            seeded.store.engine.begin() as conn,
        ):
            conn.execute(sa.text(statement))
    assert views(seeded, 3) == [("olga", 4, "checking the splice source")]


def test_unknown_incident_is_404(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> list[int]:
        headers = {"Authorization": f"Bearer {seeded.tokens['vera']}"}
        return [
            (await client.get(url, headers=headers)).status
            for url in ("/incidents/99", "/incidents/abc", "/incidents/1/hits/1/expected.png")
        ]

    assert run(seeded, scenario) == [404, 404, 404]


def test_operator_incident_page_offers_the_actions(seeded: Seeded) -> None:
    async def scenario(client: TestClient) -> str:
        headers = {"Authorization": f"Bearer {seeded.tokens['olga']}"}
        return await (await client.get("/incidents/1", headers=headers)).text()

    actions = [f["action"] for f in Elements(run(seeded, scenario)).find("form")]
    assert actions == [
        "/incidents/1/acknowledge",
        "/incidents/1/evidence/1/reveal",
        "/incidents/1/evidence/2/reveal",
        "/paths/hub/killswitch/trip",
        "/paths/hub/killswitch/request-reenable",  # the hub tripped by policy
    ]


def test_frames_pair_with_their_hits_in_handling_order() -> None:
    t0 = datetime(2026, 11, 22, 6, 2, 8, tzinfo=UTC)

    def hit(n: int, seconds: float) -> ProbeRecord:
        return ProbeRecord(
            n,
            t0 + timedelta(seconds=seconds),
            1.5,
            f"c{n}",
            "hub",
            "3g",
            "foreign_canary",
            "nursery",
            0,
            None,
            200,
            4818,
            "",
            1,
        )

    def frame(n: int, seconds: float) -> StoredEvidence:
        at = t0 + timedelta(seconds=seconds)
        return StoredEvidence(n, 1, "0" * 64, 4818, at, at + timedelta(days=7), True)

    hits = [hit(31, 0), hit(32, 1), hit(40, 30)]
    # Both probes finished and were handled at t0+2: frames 1 and 2 are hits 31 and 32.
    assert [s.hit.id for s in pair([frame(1, 2), frame(2, 2)], hits) if s.hit] == [31, 32]
    # A frame sealed before "its" hit started belongs to the last hit before it.
    assert [s.hit.id for s in pair([frame(1, 2), frame(2, 2), frame(3, 3)], hits) if s.hit] == [
        31,
        32,
        32,
    ]
    assert pair([frame(1, 2)], [])[0].hit is None
