"""The built-in kill switch flag endpoint that integration gateways poll.

    GET /api/v1/killswitch/{path}

200 with ``{"path", "state", "allow", "since", "reason"}`` and an ``ETag``; a request
whose ``If-None-Match`` names the current ETag gets ``304`` and no body, so a gateway
can poll every half second for almost nothing. ``allow`` is what the gateway does:
``all`` (armed), ``canaries`` (verifying: only the monitor's canary accounts may use
the path) or ``none`` (tripped).

Fail-safe contract, for gateway authors:

* ``404`` (the monitor does not know the path) answers ``state: "tripped"``: a path
  nobody guards is refused, so a misconfigured gateway is noticed at once.
* Any other failure (``503`` when the monitor's database fails, ``5xx``, timeouts,
  connection refused, a malformed body): **keep the last state received**; a gateway
  that has never received one treats the path as ``tripped``. A monitor outage
  therefore neither re-opens a tripped path nor switches a healthy one off, and a
  gateway starting blind starts closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any, Final

from aiohttp import web

from monitor.errors import KillSwitchStateError
from monitor.killswitch.machine import KillSwitchService
from monitor.store import UNAVAILABLE
from monitor.verdict import KillSwitchState

log = logging.getLogger(__name__)

KILL_SWITCHES_KEY: Final = web.AppKey("kill_switches", KillSwitchService)
ALLOW: Final[dict[str, str]] = {
    KillSwitchState.ARMED: "all",
    KillSwitchState.VERIFYING: "canaries",
    KillSwitchState.TRIPPED: "none",
}
FAIL_SAFE: Final = "keep the last state received; tripped if none was ever received"


def _answer(body: dict[str, Any], request: web.Request, status: int = 200) -> web.Response:
    raw = json.dumps(body, sort_keys=True).encode()
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    candidates = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
    if status == 200 and (etag in candidates or f"W/{etag}" in candidates):
        return web.Response(status=304, headers=headers)
    return web.Response(body=raw, status=status, content_type="application/json", headers=headers)


async def killswitch_state(request: web.Request) -> web.Response:
    path = request.match_info["path"]
    service = request.app[KILL_SWITCHES_KEY]
    try:
        status = await asyncio.to_thread(service.status, path)
    except KillSwitchStateError:
        body = {
            "path": path,
            "state": KillSwitchState.TRIPPED,
            "allow": "none",
            "error": "unknown path",
        }
        return _answer(body, request, status=404)
    except UNAVAILABLE as exc:
        log.error("kill switch state for %s unavailable: %s", path, exc)
        return web.json_response(
            {"path": path, "error": "state unavailable", "assume": FAIL_SAFE},
            status=503,
            headers={"Retry-After": "1", "Cache-Control": "no-store"},
        )
    body = {
        "path": status.path,
        "state": status.state,
        "allow": ALLOW[status.state],
        "since": status.since.isoformat(),
        "reason": status.reason,
    }
    return _answer(body, request)


def install_killswitch_routes(app: web.Application, service: KillSwitchService) -> None:
    app[KILL_SWITCHES_KEY] = service
    app.router.add_get("/api/v1/killswitch/{path}", killswitch_state)
