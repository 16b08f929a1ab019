"""The dashboard: server-rendered pages over the probe history (issue 6).

    GET  /                      overview: open incidents, path x profile matrix, kill switches
    GET  /fragments/overview    the overview's live part, for in-place auto-refresh
    GET  /paths/{name}?window=  outcomes per profile over 1h/24h/7d/30d, latency, changes
    GET  /canaries              the canary fleet: camera, paths, last own frame
    ...  /incidents/...         see `monitor.web.pages.incident`
    POST operator actions       see `monitor.web.pages.actions`

Every page needs the viewer role (`monitor.web.auth.guard.require`); operators additionally
see the action forms. Pages reference only this service: ``/static/camcanary.css`` and
``/static/live.js``, no CDN, no external font, so they work offline.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from monitor.errors import KillSwitchStateError
from monitor.store.history import WINDOWS, Overview
from monitor.web.auth.guard import require
from monitor.web.context import WebContext
from monitor.web.pages import actions as pages_actions
from monitor.web.pages import incident as pages_incident
from monitor.web.pages.base import (
    GRANTS,
    STATIC,
    context_of,
    error_page,
    history_of,
    in_thread,
    render,
)
from monitor.web.pages.charts import Bucket, Marker, outcome_chart
from monitor.web.pages.evidence import RevealGrants
from monitor.web.pages.latency import Latency, latency_chart

OVERVIEW_WINDOW_S: Final = 900.0  # a matrix cell: the worst verdict of the last 15 minutes
DEFAULT_WINDOW: Final = "24h"
REFRESH_S: Final = 15
STALE_CANARY_S: Final = 600.0  # no own frame for 10 minutes: the canary itself needs a look
AUDIT_ROWS: Final = 20


def _refresh(request: web.Request) -> int:
    raw = request.query.get("refresh", "")
    return max(1, min(300, int(raw))) if raw.isdigit() else REFRESH_S


async def _overview_values(request: web.Request) -> dict[str, Any]:
    ctx = context_of(request)
    history = history_of(request)
    now = ctx.clock()
    overview: Overview = await in_thread(
        history.overview, now, OVERVIEW_WINDOW_S, list(ctx.profiles) or None
    )
    switches = {s.path: s for s in await in_thread(ctx.kill_switches.statuses)}
    incidents = await in_thread(ctx.store.open_incidents)
    incidents.sort(key=lambda incident: incident.last_seen, reverse=True)
    rows = [
        (path, switches.get(path), [overview.cell(path, p) for p in overview.profiles])
        for path in overview.paths
    ]
    return {
        "overview": overview,
        "rows": rows,
        "incidents": incidents,
        "window_min": round(OVERVIEW_WINDOW_S / 60),
    }


async def overview_page(request: web.Request) -> web.Response:
    require(request, "viewer")
    values = await _overview_values(request)
    return render(request, "overview.html", nav="overview", refresh=_refresh(request), **values)


async def overview_fragment(request: web.Request) -> web.Response:
    require(request, "viewer")
    response = render(request, "_overview_live.html", **await _overview_values(request))
    response.headers["Cache-Control"] = "no-store"
    return response


async def path_page(request: web.Request) -> web.Response:
    require(request, "viewer")
    ctx = context_of(request)
    name = request.match_info["name"]
    window = request.query.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        return error_page(request, 400, "Unknown window", f"Choose one of: {', '.join(WINDOWS)}.")
    try:
        switch = await in_thread(ctx.kill_switches.status, name)
    except KillSwitchStateError:
        return error_page(request, 404, "Unknown path", f"No integration path is named {name!r}.")
    history = history_of(request)
    data = await in_thread(
        history.path_history, name, window, ctx.clock(), list(ctx.profiles) or None
    )
    markers = [Marker(e.at, e.kind, e.title) for e in data.events]
    charts = [
        (
            series.profile,
            outcome_chart(
                [Bucket(p.at, p.counts) for p in series.points],
                since=data.since,
                until=data.until,
                bucket_s=data.bucket_s,
                markers=markers,
                title=f"Probe outcomes on {name} under the {series.profile} profile, last {window}",
            ),
        )
        for series in data.series
    ]
    latency = latency_chart(
        {profile: Latency(p.p50, p.p95, p.p99, p.count) for profile, p in data.latency.items()},
        title=f"Probe latency percentiles on {name}, last {window}",
    )
    audit = list(reversed(await in_thread(ctx.kill_switches.audit, name)))[:AUDIT_ROWS]
    return render(
        request,
        "path.html",
        nav="paths",
        path=name,
        window=window,
        windows=list(WINDOWS),
        history=data,
        charts=charts,
        latency=latency,
        switch=switch,
        audit=audit,
    )


async def canaries_page(request: web.Request) -> web.Response:
    require(request, "viewer")
    ctx = context_of(request)
    fleet = await in_thread(history_of(request).canaries, ctx.clock())
    return render(request, "canaries.html", nav="canaries", fleet=fleet, stale_s=STALE_CANARY_S)


def install_page_routes(app: web.Application, ctx: WebContext) -> None:
    """Add the dashboard to ``app`` (called by `monitor.web.app.create_app`)."""
    app[GRANTS] = RevealGrants()
    app.router.add_get("/", overview_page)
    app.router.add_get("/fragments/overview", overview_fragment)
    app.router.add_get("/paths/{name}", path_page)
    app.router.add_get("/canaries", canaries_page)
    pages_incident.install(app)
    pages_actions.install(app)
    app.router.add_static("/static/", STATIC, append_version=False)
