"""The JSON API under ``/api/v1``: reads for viewers, kill-switch actions for operators,
change markers for publishers (CI/CD) and operators. `ROUTES` is the whole surface;
``GET /api/v1/openapi.json`` describes it (``monitor.web.api.openapi``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from monitor.store import Incident, incident_views, status
from monitor.store.history import History
from monitor.store.killswitch import Transition
from monitor.web.api import models as m
from monitor.web.api.base import ApiError, Call, Route, blocking, dump, install
from monitor.web.context import WebContext

READ_ERRORS = (401, 403, 422, 503)
ACT_ERRORS = (400, 401, 403, 404, 409, 422, 502, 503)
EVENTS_DEFAULT_WINDOW = timedelta(days=30)


def history(ctx: WebContext) -> History:
    if ctx.history is None:
        ctx.history = History(ctx.store.engine)
    return ctx.history


def _next(call: Call[Any, Any], before_id: int | None) -> str | None:
    if before_id is None:
        return None
    return str(call.request.rel_url.update_query(before_id=before_id))


# -- paths and kill switches -----------------------------------------------------------


def _paths(ctx: WebContext) -> m.PathList:
    switches = {s.path: s for s in ctx.kill_switches.statuses()}
    now = status.paths_status(ctx.store.engine)
    rows, incidents = now.paths, now.open_incidents
    latest: dict[tuple[str, str], m.Latest] = {}
    for v in now.latest:
        seen = latest.get((v.path, v.profile))
        if seen is None or v.at > seen.at:
            latest[(v.path, v.profile)] = m.Latest(profile=v.profile, verdict=v.verdict, at=v.at)
    items = [
        m.PathOut(
            name=row.name,
            kind=row.kind,
            on_leak=row.on_leak,
            kill_switch=None
            if row.name not in switches
            else dump(m.KillSwitch, switches[row.name]),
            open_incidents=incidents.get(row.name, 0),
            latest=sorted(
                (v for (p, _), v in latest.items() if p == row.name), key=lambda v: v.profile
            ),
        )
        for row in rows
    ]
    return m.PathList(items=items)


async def list_paths(call: Call[Any, Any]) -> m.PathList:
    result: m.PathList = await blocking(_paths, call.ctx)
    return result


async def list_killswitches(call: Call[Any, Any]) -> m.KillSwitchList:
    statuses = await blocking(call.ctx.kill_switches.statuses)
    return m.KillSwitchList(items=[dump(m.KillSwitch, s) for s in statuses])


async def _known_path(call: Call[Any, Any]) -> str:
    path: str = call.params["path"]
    await blocking(call.ctx.kill_switches.status, path)  # unknown: KillSwitchStateError -> 404
    return path


async def trip(call: Call[Any, m.ReasonIn]) -> m.TransitionOut:
    path = await _known_path(call)
    done = await call.ctx.kill_switches.trip(path, actor=call.who.name, reason=call.body.reason)
    return await _announced(call.ctx, done)


async def request_reenable(call: Call[Any, m.ReasonIn]) -> m.TransitionOut:
    path = await _known_path(call)
    done = await call.ctx.kill_switches.request_reenable(
        path, actor=call.who.name, reason=call.body.reason
    )
    return await _announced(call.ctx, done)


async def approve(call: Call[Any, Any]) -> m.TransitionOut:
    path = await _known_path(call)
    done = await call.ctx.kill_switches.approve(path, actor=call.who.name)
    return await _announced(call.ctx, done)


async def _announced(ctx: WebContext, done: Transition) -> m.TransitionOut:
    """The transition as the API answers it, after a reply in the path's incident
    threads: a change made through the API reaches on-call as the dashboard's does."""
    if ctx.engine is not None and done.from_state != done.to_state:
        await blocking(ctx.engine.announce, done)
    return dump(m.TransitionOut, done)


# -- probes ----------------------------------------------------------------------------


async def list_probes(call: Call[m.ProbeQuery, Any]) -> m.ProbeList:
    q = call.query
    page = await blocking(
        history(call.ctx).probes,
        path=q.path,
        profile=q.profile,
        verdict=q.verdict,
        canary=q.canary,
        since=q.since,
        until=q.until,
        limit=q.limit,
        before_id=q.before_id,
    )
    return m.ProbeList(
        items=[dump(m.Probe, p) for p in page.items],
        next_before_id=page.next_before_id,
        next=_next(call, page.next_before_id),
    )


async def get_probe(call: Call[Any, Any]) -> m.Probe:
    probe = await blocking(history(call.ctx).probe, call.params["id"])
    if probe is None:
        raise ApiError(404, f"no probe {call.params['id']}")
    return dump(m.Probe, probe)


# -- incidents -------------------------------------------------------------------------


def _incidents(ctx: WebContext, q: m.IncidentQuery) -> tuple[list[Incident], int | None]:
    return incident_views.incidents(
        ctx.store, path=q.path, status=q.status, before_id=q.before_id, limit=q.limit
    )


async def list_incidents(call: Call[m.IncidentQuery, Any]) -> m.IncidentList:
    rows, before = await blocking(_incidents, call.ctx, call.query)
    return m.IncidentList(
        items=[dump(m.Incident, row) for row in rows],
        next_before_id=before,
        next=_next(call, before),
    )


def _incident(ctx: WebContext, incident_id: int) -> m.IncidentDetail:
    row = incident_views.incident(ctx.store, incident_id)
    if row is None:
        raise ApiError(404, f"no incident {incident_id}")
    hits = history(ctx).incident_hits(incident_id)
    # The path's switch changes from the incident's first hit on: trips, requests,
    # approvals and the automatic re-arm that ended it.
    audit = [
        a
        for a in ctx.kill_switches.audit(row.path)
        if a.incident_id == incident_id or a.at >= row.first_seen
    ][:200]
    thread = incident_views.slack_thread(ctx.store, incident_id)
    base = dump(m.Incident, row).model_dump()
    return m.IncidentDetail(
        **base,
        hit_probes=[dump(m.Probe, p) for p in hits],
        kill_switch_audit=[dump(m.Audit, a) for a in audit],
        slack_channel=None if thread is None else thread.channel,
        slack_ts=None if thread is None else thread.ts,
    )


async def get_incident(call: Call[Any, Any]) -> m.IncidentDetail:
    detail: m.IncidentDetail = await blocking(_incident, call.ctx, call.params["id"])
    return detail


# -- events and canaries ---------------------------------------------------------------


async def list_events(call: Call[m.EventQuery, Any]) -> m.EventList:
    now = call.ctx.clock()
    until = call.query.until or now
    since = call.query.since or until - EVENTS_DEFAULT_WINDOW
    if since > until:  # an empty window
        return m.EventList(items=[])
    events = await blocking(
        history(call.ctx).events,
        since=since,
        until=until,
        path=call.query.path,
        limit=call.query.limit,
    )
    return m.EventList(items=[dump(m.Event, e) for e in events])


async def add_event(call: Call[Any, m.EventIn]) -> m.Event:
    body = call.body
    if body.path is not None and body.path not in await blocking(_path_names, call.ctx):
        raise ApiError(404, f"unknown path {body.path!r}")
    try:
        event = await blocking(
            history(call.ctx).add_event,
            kind=body.kind,
            title=body.title,
            at=body.at or call.ctx.clock(),
            path=body.path,
            details={**body.details, "posted_by": call.who.name},
        )
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    return dump(m.Event, event)


def _path_names(ctx: WebContext) -> set[str]:
    return status.path_names(ctx.store.engine)


async def list_canaries(call: Call[Any, Any]) -> m.CanaryList:
    canaries = await blocking(history(call.ctx).canaries, call.ctx.clock())
    return m.CanaryList(items=[dump(m.Canary, c) for c in canaries])


ROUTES: list[Route] = [
    Route("GET", "/paths", list_paths, "listPaths", "Integration paths with kill switch "
          "state, open incidents and the latest verdict per profile", "viewer", m.PathList,
          errors=READ_ERRORS),
    Route("GET", "/probes", list_probes, "listProbes", "Raw probes, newest first, filtered "
          "and paginated by before_id", "viewer", m.ProbeList, query=m.ProbeQuery,
          errors=READ_ERRORS),
    Route("GET", "/probes/{id}", get_probe, "getProbe", "One probe", "viewer", m.Probe,
          errors=(*READ_ERRORS, 404)),
    Route("GET", "/incidents", list_incidents, "listIncidents", "Incidents, newest first",
          "viewer", m.IncidentList, query=m.IncidentQuery, errors=READ_ERRORS),
    Route("GET", "/incidents/{id}", get_incident, "getIncident", "One incident with its hits,"
          " Slack thread and kill switch audit trail", "viewer", m.IncidentDetail,
          errors=(*READ_ERRORS, 404)),
    Route("GET", "/killswitches", list_killswitches, "listKillSwitches", "Every path's kill "
          "switch", "viewer", m.KillSwitchList, errors=READ_ERRORS),
    Route("POST", "/killswitches/{path}/trip", trip, "tripKillSwitch", "Trip a path's kill "
          "switch (from any state)", "operator", m.TransitionOut, body=m.ReasonIn,
          errors=ACT_ERRORS),
    Route("POST", "/killswitches/{path}/request-reenable", request_reenable,
          "requestReenable", "Ask for a tripped path to be re-enabled (another operator "
          "approves)", "operator", m.TransitionOut, body=m.ReasonIn, errors=ACT_ERRORS),
    Route("POST", "/killswitches/{path}/approve", approve, "approveReenable", "Approve the "
          "pending re-enable request: tripped -> verifying", "operator", m.TransitionOut,
          errors=ACT_ERRORS),
    Route("GET", "/events", list_events, "listEvents", "Change markers (deploys, cache "
          "updates), oldest first; default: the last 30 days", "viewer", m.EventList,
          query=m.EventQuery, errors=READ_ERRORS),
    Route("POST", "/events", add_event, "addEvent", "Record a change marker (CI/CD)",
          "publisher", m.Event, body=m.EventIn, status=201, errors=ACT_ERRORS),
    Route("GET", "/canaries", list_canaries, "listCanaries", "The canary fleet and when each "
          "last read as itself", "viewer", m.CanaryList, errors=READ_ERRORS),
]  # fmt: skip


async def openapi_json(request: web.Request) -> web.Response:
    from monitor.web.api.openapi import document

    return web.json_response(document(ROUTES))


def install_api_routes(app: web.Application) -> None:
    install(app, ROUTES)
    app.router.add_get("/api/v1/openapi.json", openapi_json)
