"""Operator actions from the dashboard's forms (operator role + CSRF-checked form).

    POST /paths/{name}/killswitch/trip               reason required
    POST /paths/{name}/killswitch/request-reenable   reason required
    POST /paths/{name}/killswitch/approve            a second operator (four eyes)
    POST /incidents/{id}/acknowledge

Each one does what the Slack buttons, the JSON API and the CLI do (the same
`KillSwitchService` and `IncidentEngine` calls, announced in the incident threads),
then redirects back (303) to the page it came from with a fixed confirmation.
A viewer's POST gets 403, a form without the right CSRF token gets 403.
"""

from __future__ import annotations

from aiohttp import web

from monitor.errors import KillSwitchError, KillSwitchStateError
from monitor.web.auth.guard import checked_form, require, safe_next
from monitor.web.pages.base import context_of, error_page, in_thread, int_param

MAX_REASON = 500


def _back(target: str, done: str) -> web.HTTPSeeOther:
    separator = "&" if "?" in target else "?"
    return web.HTTPSeeOther(f"{target}{separator}done={done}")


async def killswitch_action(request: web.Request) -> web.Response:
    who = require(request, "operator")
    form = await checked_form(request)
    ctx = context_of(request)
    path, action = request.match_info["name"], request.match_info["action"]
    target = safe_next(form.get("next"), f"/paths/{path}")
    reason = form.get("reason", "").strip()[:MAX_REASON]
    if action in ("trip", "request-reenable") and not reason:
        return error_page(request, 400, "A reason is required", "Say why, for the audit trail.")
    service = ctx.kill_switches
    try:
        if action == "trip":
            transition = await service.trip(path, actor=who.name, reason=reason)
        elif action == "request-reenable":
            transition = await service.request_reenable(path, actor=who.name, reason=reason)
        else:
            transition = await service.approve(path, actor=who.name)
    except KillSwitchStateError as exc:
        return error_page(request, 409, "The kill switch did not change", str(exc))
    except KillSwitchError as exc:
        return error_page(request, 502, "The kill switch backend failed", str(exc))
    if ctx.engine is not None and transition.from_state != transition.to_state:
        await in_thread(ctx.engine.announce, transition)  # a reply in the path's threads
    raise _back(target, {"request-reenable": "request"}.get(action, action))


async def acknowledge(request: web.Request) -> web.Response:
    who = require(request, "operator")
    form = await checked_form(request)
    incident_id = int_param(request, "id")
    engine = context_of(request).engine
    if engine is None:
        return error_page(
            request, 503, "No incident engine", "This service runs without incident handling."
        )
    changed = await in_thread(engine.acknowledge, incident_id, who.name)
    if not changed:
        return error_page(
            request,
            409,
            "Not acknowledged",
            f"Incident #{incident_id} is unknown or was acknowledged already.",
        )
    raise _back(safe_next(form.get("next"), f"/incidents/{incident_id}"), "ack")


def install(app: web.Application) -> None:
    app.router.add_post(
        r"/paths/{name}/killswitch/{action:trip|request-reenable|approve}", killswitch_action
    )
    app.router.add_post("/incidents/{id}/acknowledge", acknowledge)
