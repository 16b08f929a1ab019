"""The incident page and its evidence (issue 5's evidence privacy, issue 6's incident view).

    GET  /incidents/{id}                                  timeline, Slack thread, kill switch
                                                          audit, evidence, who viewed it
    GET  /incidents/{id}/hits/{probe}/expected.png        the canary frame the probe expected
    GET  /incidents/{id}/evidence/{eid}/pixelated.png     the returned frame, pixelated
    POST /incidents/{id}/evidence/{eid}/reveal            operator + CSRF + reason: audit
                                                          row, then a page with the clear frame
    GET  /evidence/clear/{grant}.png                      the clear frame: the same operator,
                                                          within the grant's two minutes

Viewers get only the pixelated frame (`monitor.web.pages.evidence.pixelate`). The clear
frame has no stable URL: it is served only against a short-lived grant issued to the
operator whose request was audited, and always with ``Cache-Control: no-store``.

The Slack link uses Slack's documented ``https://slack.com/app_redirect?channel=C``
(https://api.slack.com/docs/deep-linking), which opens the channel in whichever
workspace the person is signed in to; the thread's message ``ts`` is shown beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from alerts.evidence import EvidenceError, EvidenceVault
from canaries import render as render_canary
from monitor.store import Incident
from monitor.store.evidence_views import StoredEvidence, audit_view, find_evidence, open_frame
from monitor.store.history import ProbeRecord
from monitor.store.incident_views import incident_page as load_incident_page
from monitor.web.auth.guard import checked_form, require
from monitor.web.pages.base import (
    GRANTS,
    codebook_of,
    context_of,
    error_page,
    history_of,
    in_thread,
    int_param,
    render,
)
from monitor.web.pages.evidence import EvidenceImageError, as_png, pixelate

EXPECTED_SIZE: Final = (640, 360)
MIN_REASON: Final = 4
NO_STORE: Final = {"Cache-Control": "no-store, private", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Shown:
    """One stored evidence frame beside the hit it most likely came from."""

    item: StoredEvidence
    hit: ProbeRecord | None


def slack_link(channel: str, ts: str | None) -> str:
    return "https://slack.com/app_redirect?" + urlencode({"channel": channel}) if ts else ""


def pair(items: list[StoredEvidence], hits: list[ProbeRecord]) -> list[Shown]:
    """Each stored frame beside the hit it came from.

    The engine seals the frames of an incident's first hits, in the order it handles
    them, and records each hit right after: so the n-th frame is the n-th hit's. A
    frame stored before its supposed hit started (a hit without a frame in between)
    falls back to the last hit that started before the frame was stored.
    """
    shown = []
    for n, item in enumerate(items):
        hit = hits[n] if n < len(hits) else None
        if hit is None or hit.started_at > item.created_at:
            before = [h for h in hits if h.started_at <= item.created_at]
            hit = before[-1] if before else hit
        shown.append(Shown(item, hit))
    return shown


def _load(request: web.Request, incident_id: int) -> dict[str, Any] | None:
    page = load_incident_page(context_of(request).store, incident_id)
    if page is None:
        return None
    return {
        "incident": page.incident,
        "thread": page.thread,
        "evidence": page.evidence,
        "views": page.views,
    }


async def incident_page(request: web.Request) -> web.Response:
    require(request, "viewer")
    incident_id = int_param(request, "id")
    ctx = context_of(request)
    values = await in_thread(_load, request, incident_id)
    if values is None:
        return error_page(request, 404, "Unknown incident", f"No incident #{incident_id}.")
    incident: Incident = values["incident"]
    hits = await in_thread(history_of(request).incident_hits, incident_id)
    audit = await in_thread(ctx.kill_switches.audit, incident.path)
    switch = await in_thread(ctx.kill_switches.status, incident.path)
    thread = values["thread"]
    present = {item.id for item in values["evidence"]}
    return render(
        request,
        "incident.html",
        nav="incidents",
        hits=hits,
        shown=pair(values["evidence"], hits),
        deleted={v.evidence_id for v in values["views"]} - present,
        audit=list(reversed(audit)),
        switch=switch,
        slack=slack_link(thread.channel, thread.ts) if thread is not None else "",
        vault=ctx.vault,
        has_codebook=codebook_of(request) is not None,
        acked=incident.acked_by is not None,
        **values,
    )


async def expected_frame(request: web.Request) -> web.Response:
    require(request, "viewer")
    incident_id, probe_id = int_param(request, "id"), int_param(request, "probe")
    book = codebook_of(request)
    hit = await in_thread(history_of(request).probe, probe_id)
    if book is None or hit is None or hit.incident_id != incident_id:
        raise web.HTTPNotFound(text="no expected frame for this hit")

    def draw() -> bytes:
        image = render_canary(book, hit.canary, hit.started_at, EXPECTED_SIZE)
        out = BytesIO()
        image.save(out, "PNG")
        return out.getvalue()

    body = await in_thread(draw)
    # Our own canary's pattern, deterministic per (canary, time): cacheable.
    return web.Response(
        body=body, content_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
    )


def _sealed(request: web.Request, incident_id: int, evidence_id: int) -> StoredEvidence:
    """The evidence row if it belongs to the incident and its frame is kept; else 404."""
    vault = context_of(request).vault
    item = find_evidence(context_of(request).store.engine, evidence_id)
    if vault is None or item is None or item.incident_id != incident_id or not item.kept:
        raise web.HTTPNotFound(text="no stored frame for this evidence", headers=NO_STORE)
    return item


def _open(request: web.Request, evidence_id: int) -> bytes:
    vault: EvidenceVault | None = context_of(request).vault
    if vault is None:
        raise EvidenceError("this service keeps no evidence frames")
    return open_frame(context_of(request).store.engine, vault, evidence_id)


async def pixelated_frame(request: web.Request) -> web.Response:
    require(request, "viewer")
    incident_id, evidence_id = int_param(request, "id"), int_param(request, "eid")
    await in_thread(_sealed, request, incident_id, evidence_id)

    def make() -> bytes:
        return pixelate(_open(request, evidence_id))

    try:
        body = await in_thread(make)
    except (EvidenceError, EvidenceImageError) as exc:
        raise web.HTTPNotFound(text=str(exc), headers=NO_STORE) from exc
    return web.Response(body=body, content_type="image/png", headers=NO_STORE)


async def reveal(request: web.Request) -> web.Response:
    who = require(request, "operator")
    form = await checked_form(request)
    incident_id, evidence_id = int_param(request, "id"), int_param(request, "eid")
    reason = form.get("reason", "").strip()
    if len(reason) < MIN_REASON:
        return error_page(
            request, 400, "A reason is required", "Say why you need to see this frame in clear."
        )
    item = await in_thread(_sealed, request, incident_id, evidence_id)
    ctx = context_of(request)

    def audit_then_open() -> tuple[int, bytes]:
        # recorded (committed) before anything is decrypted
        view_id = audit_view(
            ctx.store.engine, at=ctx.clock(), actor=who.name, via=who.via, item=item, reason=reason
        )
        return view_id, as_png(_open(request, evidence_id))

    try:
        view_id, _check = await in_thread(audit_then_open)
    except (EvidenceError, EvidenceImageError) as exc:
        return error_page(request, 410, "Evidence cannot be shown", str(exc))
    grant = request.app[GRANTS].issue(who.name, evidence_id, incident_id, view_id)
    return render(
        request,
        "evidence_clear.html",
        headers=dict(NO_STORE),
        item=item,
        incident_id=incident_id,
        grant=grant,
        reason=reason,
        ttl=round(request.app[GRANTS].seconds_left(grant)),
        revealed_at=ctx.clock(),
    )


async def clear_frame(request: web.Request) -> web.Response:
    who = require(request, "operator")
    grant = request.app[GRANTS].redeem(request.match_info["grant"], who.name)
    if grant is None:
        raise web.HTTPForbidden(text="this reveal has expired or is not yours", headers=NO_STORE)
    try:
        body = await in_thread(lambda: as_png(_open(request, grant.evidence_id)))
    except (EvidenceError, EvidenceImageError) as exc:
        raise web.HTTPGone(text=str(exc), headers=NO_STORE) from exc
    return web.Response(body=body, content_type="image/png", headers=NO_STORE)


def install(app: web.Application) -> None:
    app.router.add_get("/incidents/{id}", incident_page)
    app.router.add_get("/incidents/{id}/hits/{probe}/expected.png", expected_frame)
    app.router.add_get("/incidents/{id}/evidence/{eid}/pixelated.png", pixelated_frame)
    app.router.add_post("/incidents/{id}/evidence/{eid}/reveal", reveal)
    app.router.add_get("/evidence/clear/{grant}.png", clear_frame)
